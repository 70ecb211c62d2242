"""Run the daily_refresh job over FIRST..LAST in this process; the crash and backfill tests
start it as a child process with its own MEIO_* folders. Exit status 0 when the run succeeded."""

import sys

from orchestration.demo import run_range

first, last = sys.argv[1], sys.argv[-1]
sys.exit(0 if run_range(first, last).success else 1)
