"""Where the pipeline reads and writes. Paths come from environment variables, made absolute.

MEIO_LANDING    landing folder with one ``YYYY-MM-DD`` folder per extract day (default data/landing)
MEIO_WAREHOUSE  DuckDB warehouse file written by ingest, dbt and the Python assets
MEIO_SERVING    folder of the published copy that BI reads (default data/serving)
MEIO_SCENARIOS  YAML of the what-if scenarios every run plans (default config/scenarios.yaml)
MEIO_DUCKDB_MEMORY  memory DuckDB may use in the pipeline's connections and dbt before it
                spills to disk (default 4GB; DuckDB's own default is 80% of the machine)
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "transforms"
PARTITIONS_START = "2024-01-01"


def _path(variable: str, default: str) -> Path:
    path = Path(os.environ.get(variable, default))
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


def landing_path() -> Path:
    return _path("MEIO_LANDING", "data/landing")


def warehouse_path() -> Path:
    path = _path("MEIO_WAREHOUSE", "data/warehouse.duckdb")
    # dbt reads the same variable from its profile: hand it the absolute path.
    os.environ["MEIO_WAREHOUSE"] = str(path)
    return path


def serving_path() -> Path:
    return _path("MEIO_SERVING", "data/serving")


def scenarios_path() -> Path:
    return _path("MEIO_SCENARIOS", "config/scenarios.yaml")


def duckdb_memory_limit() -> str:
    return os.environ.get("MEIO_DUCKDB_MEMORY", "4GB")
