#!/usr/bin/env bash
# Makes sure the headless browser the UI tests drive is installed: Debian's chromium package,
# used by Playwright through `executable_path` (never `playwright install`, which downloads
# its own browser builds). Idempotent: does nothing when /usr/bin/chromium exists.
set -uo pipefail

CHROMIUM="${FASTFLOW_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian package) for the browser tests" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq chromium >/dev/null || true
fi
[ -x "$CHROMIUM" ] || echo "chromium is not installed; browser tests will skip (fail in CI)" >&2
exit 0
