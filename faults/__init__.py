"""Fault injection for the crash tests: a named point where the process can be killed.

With ``MEIO_CRASH_AT=<name>`` in the environment, reaching ``crash_point(name)`` kills the
process with SIGKILL (no cleanup, no exception handlers), as a power cut or an OOM kill would.
Unset (always, outside the tests), it does nothing.
"""

import os
import signal

CRASH_ENV = "MEIO_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
