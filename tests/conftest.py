"""Test settings: every worker gets its own landing, warehouse, serving copy and DAGSTER_HOME,
set before the Dagster definitions are imported."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_ROOT = Path(tempfile.mkdtemp(prefix="meio-tests-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)  # ~30 MB per worker and run
os.environ["DO_NOT_TRACK"] = "1"
os.environ["MEIO_LANDING"] = str(_ROOT / "landing")
os.environ["MEIO_WAREHOUSE"] = str(_ROOT / "warehouse.duckdb")
os.environ["MEIO_SERVING"] = str(_ROOT / "serving")
os.environ["DAGSTER_HOME"] = str(_ROOT / "dagster_home")
# the tests land days of 2026 after the definitions are loaded: partitions from a fixed start
os.environ["MEIO_PARTITIONS_START"] = "2024-01-01"
# the repo's scenarios name the demo network's locations; tests plan the scenarios they give
os.environ["MEIO_SCENARIOS"] = str(_ROOT / "scenarios.yaml")
(_ROOT / "scenarios.yaml").write_text("scenarios: []\n")
(_ROOT / "dagster_home").mkdir()
(_ROOT / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"


def _ensure_dbt_manifest() -> None:
    manifest = PROJECT_ROOT / "transforms" / "target" / "manifest.json"
    if not manifest.exists():
        dbt = Path(sys.executable).parent / "dbt"
        subprocess.run(
            [str(dbt), "parse", "--profiles-dir", ".", "--quiet"],
            cwd=manifest.parent.parent,
            check=True,
        )


_ensure_dbt_manifest()


# Test modules that run the pipeline end to end (Dagster + dbt + DuckDB): marked ``slow``
# (`pytest -m "not slow"`: the unit tests alone, under a minute on 2 cores).
PIPELINE_MODULES = {
    "test_pipeline",
    "test_crash",
    "test_backfill",
    "test_serving",
    "test_report",
    "test_incremental",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in PIPELINE_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def work_root() -> Path:
    return _ROOT


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.exists():
        if os.environ.get("CI"):  # CI has ../shared beside the clone: a skip would hide
            pytest.fail("../shared is absent in CI (set CI only where it is present)")
        pytest.skip("../shared is absent")
    return SHARED
