"""What every results file records about how it was made: the commit (and whether the working
tree differed from it), the command line, the machine and the time. ``write_results`` puts it
first in the JSON a benchmark writes, so a figure quoted from a results file can be traced and
re-run."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=False
    ).stdout.strip()


def provenance() -> dict:
    """commit, uncommitted_changes, command, machine (cores, memory GiB, Python, platform),
    measured_at (UTC, ISO 8601)."""
    pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    memory = pages * os.sysconf("SC_PAGE_SIZE") / 2**30 if pages else None
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(Path.cwd())
    return {
        "commit": _git("rev-parse", "HEAD"),
        # the results files themselves excepted (run_all rewrites them one after another)
        "uncommitted_changes": bool(
            _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
        ),
        "command": " ".join(["python", str(script), *sys.argv[1:]]),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(memory, 1) if memory else None,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def write_results(path: Path, figures: dict) -> None:
    """``figures`` with the provenance first, as indented JSON at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**provenance(), **figures}, indent=1, default=str) + "\n")
    print(f"wrote {path}")
