"""Run dbt so that it dies with the process that started it.

Killing a run's process (SIGKILL, an out-of-memory kill, a stopped container) while dbt ran
left dbt running as an orphan holding the warehouse's write lock: every later run failed
until someone found and killed it. On Linux the kernel can end a child when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); the setting survives the exec into dbt. Dagster starts this
module through ``scripts/dbt`` as its dbt executable. Elsewhere it simply runs dbt.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def bind_to_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); exit at once if
    the parent is already gone (re-parented to init before the request took effect)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not fatal: dbt then runs as before
    if os.getppid() != parent:
        os._exit(1)


def main() -> None:
    bind_to_parent()
    command = [os.environ.get("MEIO_DBT", str(Path(sys.executable).parent / "dbt")), *sys.argv[1:]]
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
