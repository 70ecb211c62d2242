"""Run the daily_refresh job over one day in this process (the crash tests start it as a child
process with its own MEIO_* folders and kill it). Exit status 0 when the run succeeded."""

import sys

from orchestration.demo import run_range

day = sys.argv[1]
sys.exit(0 if run_range(day, day).success else 1)
