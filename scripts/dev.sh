#!/usr/bin/env bash
# The Dagster UI (webserver, daemon, code server) on this project; Ctrl-C stops all of it.
# `dagster dev` alone can take minutes to exit on Ctrl-C (its code servers wait for open
# streaming calls from the webserver), and leaves them running if it is killed: here it runs
# in its own process group, a Ctrl-C (or SIGTERM) is passed on to the whole group, and what is
# still running after STOP_GRACE seconds is killed. Extra arguments go to `dagster dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}" DO_NOT_TRACK=1
grace="${STOP_GRACE:-10}"
setsid .venv/bin/dagster dev -w workspace.yaml "$@" &
dev=$!
running() {  # processes of the UI's group still running (exited ones waiting to be reaped aside)
  ps -eo pgid=,stat= | awk -v g="$dev" '$1 == g && $2 !~ /^Z/ {found = 1} END {exit !found}'
}
stop() {
  trap - INT TERM
  echo "stopping Dagster (at most ${grace} s)..." >&2
  kill -INT -- "-$dev" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 4))); do
    running || break
    sleep 0.25
  done
  kill -KILL -- "-$dev" 2>/dev/null || true
  wait "$dev" 2>/dev/null || true
  exit 0
}
trap stop INT TERM
wait "$dev"
