#!/usr/bin/env bash
# Set up, then run the test suite (pytest on 2 workers) and lint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DO_NOT_TRACK=1
# The report's browser test needs Chromium (a Debian package): installed here when missing and
# this is root on a Debian-like machine (CI is); elsewhere that one test skips, except in CI.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "chromium could not be installed: the report's browser test will not run"
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
