"""The README's UI command (scripts/dev.sh) starts the Dagster UI and a Ctrl-C stops it and
every process it started, within the script's grace period."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    """A process of group ``pgid`` still runs (exited ones waiting to be reaped aside: a
    container's first process may never reap them)."""
    listing = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True)
    return any(
        int(group) == pgid and not state.startswith("Z")
        for group, state in (line.split() for line in listing.stdout.splitlines())
    )


@pytest.mark.slow
def test_ctrl_c_stops_the_ui_and_everything_it_started(tmp_path):
    port = _free_port()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "MEIO_LANDING": str(tmp_path / "landing"),
        "MEIO_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "MEIO_SERVING": str(tmp_path / "serving"),
        "STOP_GRACE": "10",
    }
    # its own session, as a terminal's foreground job is its own process group
    script = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "dev.sh"), "-p", str(port)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the UI did not answer within 180 s")
        found = subprocess.run(
            ["pgrep", "-f", f"dagster dev -w workspace.yaml -p {port}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        dev = int(found[0])
        started = time.monotonic()
        os.killpg(script.pid, signal.SIGINT)  # Ctrl-C: the foreground group gets SIGINT
        script.wait(timeout=60)
        stopped = time.monotonic() - started
        time.sleep(0.5)
        assert not _group_alive(dev), "processes of the UI are left running"
        assert stopped < 20, f"took {stopped:.1f} s to stop"
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
        leftover = subprocess.run(
            ["pgrep", "-f", f"-p {port}"], capture_output=True, text=True
        ).stdout.split()
        for pid in leftover:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
