# /// script
# requires-python = ">=3.11"
# dependencies = []
# ///
"""Runs for a while and reports progress with `::progress N text` lines."""

import os
import time

steps = int(os.environ.get("STEPS", "20"))
delay = float(os.environ.get("DELAY", "0.5"))
for i in range(1, steps + 1):
    print(f"step {i}/{steps}")
    print(f"::progress {i * 100 // steps} step {i} of {steps}")
    time.sleep(delay)
print("done")
