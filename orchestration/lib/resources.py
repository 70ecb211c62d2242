"""Resources shared by the assets: the DuckDB warehouse, the landing folder, dbt."""

import os
import sys
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


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse. Its connection is closed when the block ends, also when a step
    raises (dagster-duckdb's own leaves it to garbage collection, and an open connection
    keeps the file locked for the next writer and for readers)."""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with super().get_connection() as con:
            try:
                yield con
            finally:
                con.close()


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
