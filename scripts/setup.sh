#!/usr/bin/env bash
# Set up the project on a fresh machine: uv, a locked virtual environment, the dbt manifest,
# and a DAGSTER_HOME with telemetry off. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1
if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  python3 -m pip install --quiet --disable-pip-version-check uv
  UV=(python3 -m uv)
fi
"${UV[@]}" sync --quiet --frozen --extra dev --python 3.11
mkdir -p .dagster_home
[ -f .dagster_home/dagster.yaml ] || printf 'telemetry:\n  enabled: false\n' > .dagster_home/dagster.yaml
(cd transforms && ../.venv/bin/dbt parse --profiles-dir . --quiet)
