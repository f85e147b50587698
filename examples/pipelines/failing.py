"""Fails on purpose: shows how a failed run looks (exit code, stderr, failure kind)."""

import sys

print("starting work")
print("something went wrong", file=sys.stderr)
raise SystemExit(3)
