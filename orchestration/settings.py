"""Where the pipeline reads and writes. Paths come from environment variables, made absolute.

MEIO_LANDING    landing folder with one ``YYYY-MM-DD`` folder per extract day (default data/landing)
MEIO_WAREHOUSE  DuckDB warehouse file written by ingest, dbt and the Python assets
MEIO_SERVING    folder of the published copy that BI reads (default data/serving)
MEIO_SCENARIOS  YAML of the what-if scenarios every run plans (default config/scenarios.yaml)
MEIO_PARTITIONS_START  first extract day of the daily partitions (default: the earliest landing
                folder at start-up, else today)
MEIO_TIMEZONE   time zone of the partitions' days and the 06:00 schedule (default UTC)
MEIO_CURRENCY   currency of every value column (unit cost, safety stock value, ...), as the ERP's
                item and lane masters state them; published in ``publication.currency``
                (default EUR)
MEIO_DUCKDB_MEMORY  memory DuckDB may use in the pipeline's connections and dbt before it
                spills to disk (default 2GB; DuckDB's own default is 80% of the machine)
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "transforms"


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


def partitions_start() -> str:
    """The daily partitions' first day: MEIO_PARTITIONS_START, else the earliest day folder in
    the landing (so the UI shows the days there are, not years of empty partitions), else
    today. Read once, when the definitions are loaded."""
    if os.environ.get("MEIO_PARTITIONS_START"):
        return os.environ["MEIO_PARTITIONS_START"]
    landing = landing_path()
    days = sorted(
        p.name
        for p in (landing.iterdir() if landing.is_dir() else [])
        if p.is_dir() and len(p.name) == 10 and p.name[4] == "-" and p.name[7] == "-"
    )
    return days[0] if days else dt.date.today().isoformat()


def timezone() -> str:
    return os.environ.get("MEIO_TIMEZONE", "UTC")


def duckdb_memory_limit() -> str:
    return os.environ.get("MEIO_DUCKDB_MEMORY", "2GB")


def currency() -> str:
    return os.environ.get("MEIO_CURRENCY", "EUR")
