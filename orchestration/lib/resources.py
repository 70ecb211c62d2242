"""Resources shared by the assets: the DuckDB warehouse, the landing folder, dbt."""

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from orchestration.settings import (
    DBT_PROJECT_DIR,
    duckdb_memory_limit,
    landing_path,
    serving_path,
    warehouse_path,
)

DBT_CHILD = Path(__file__).resolve().parents[2] / "scripts" / "dbt"
os.environ.setdefault("MEIO_PYTHON", sys.executable)  # the Python scripts/dbt starts


# DuckDB's message when another process holds the file (a writer, or any connection there)
WAREHOUSE_LOCKED = "Could not set lock on file"
LOCK_RETRIES = 3  # step retries after a step waited lock_wait_seconds in vain


def retry_when_locked(error: BaseException, retry_seconds: float) -> None:
    """Ask Dagster to run the step again in ``retry_seconds`` (up to LOCK_RETRIES times) when
    ``error`` is the warehouse being locked by another process, a transient failure; any
    other error is the step's own and is not retried (a bad extract fails the same way
    again). Returns when ``error`` is not a lock conflict."""
    if WAREHOUSE_LOCKED in str(error):
        raise dg.RetryRequested(max_retries=LOCK_RETRIES, seconds_to_wait=retry_seconds) from error


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse, opened read-write. A lock held by another process (a data
    engineer's DuckDB shell, a dbt run outside Dagster) is waited out for
    ``lock_wait_seconds`` (backing off from 0.1 s), then the step is retried
    (``retry_when_locked``). The connection is closed when the block ends, also when a step
    raises (an open connection keeps the file locked for the next writer and for readers)."""

    lock_wait_seconds: float = 120.0
    lock_retry_seconds: float = 60.0

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.1
        while True:
            try:
                return duckdb.connect(
                    self.database,
                    read_only=False,
                    config={"custom_user_agent": "dagster", **self.connection_config},
                )
            except duckdb.IOException as error:
                if WAREHOUSE_LOCKED not in str(error) or time.monotonic() + delay > deadline:
                    retry_when_locked(error, self.lock_retry_seconds)
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 10.0)


class LandingResource(dg.ConfigurableResource):
    """The landing folder the ERP/WMS drop their daily extracts into."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class ServingResource(dg.ConfigurableResource):
    """Folder of the published copy BI reads (swapped in atomically)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


def build_resources() -> dict[str, dg.ConfigurableResource]:
    warehouse = warehouse_path()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    return {
        "warehouse": WarehouseResource(
            database=str(warehouse), connection_config={"memory_limit": duckdb_memory_limit()}
        ),
        "landing": LandingResource(path=str(landing_path())),
        "serving": ServingResource(path=str(serving_path())),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            # this environment's dbt, bound to die with the run's process: a killed run must
            # not leave dbt holding the warehouse's lock (orchestration/lib/dbt_child.py)
            dbt_executable=str(DBT_CHILD),
        ),
    }
