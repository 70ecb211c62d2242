#!/usr/bin/env bash
# Set up, then run the main job on the embedded demo data and print what was built.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DO_NOT_TRACK=1 DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
exec .venv/bin/python -m orchestration.demo "$@"
