"""dbt started for a run dies with the run's process (no orphan holding the warehouse)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestration.lib.resources import DBT_CHILD


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped by its new parent) is dead too
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_dbt_child_dies_when_the_run_process_is_killed():
    env = {**os.environ, "MEIO_DBT": "/bin/sleep", "MEIO_PYTHON": sys.executable}
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"child = subprocess.Popen([{str(DBT_CHILD)!r}, '60'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(parent.stdout.readline())
    time.sleep(0.5)  # the child is bound and sleeping
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)  # the run's process killed outright
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "dbt outlived the process that started it"
