"""Small helpers for the Python assets that read marts and write their results to DuckDB."""

import datetime as dt

import duckdb
import pandas as pd

from extracts.ingest import frame_transaction


def read_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> pd.DataFrame:
    return con.execute(f'SELECT * FROM "{schema}"."{name}"').df()


def replace_table(
    con: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pd.DataFrame
) -> int:
    """Replace ``schema.name`` with ``frame`` in one transaction; returns the row count."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    with frame_transaction(con, "frame_to_write", frame):
        con.execute(f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS SELECT * FROM frame_to_write')
    return len(frame)


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = [format(v, floatfmt) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_date_of(context) -> dt.date:
    """The day a run is as of: the last partition of its (single-run) range."""
    return dt.date.fromisoformat(context.partition_keys[-1])


def write_results(
    warehouse,
    schema: str,
    tables: dict[str, pd.DataFrame],
    run_date: dt.date,
    scenario: str | None = "base",
) -> dict[str, int]:
    """Replace each result table, stamped with the run date (and the scenario, if any)."""
    stamp = {"run_date": run_date} | ({"scenario": scenario} if scenario else {})
    with warehouse.get_connection() as con:
        return {
            name: replace_table(con, schema, name, frame.assign(**stamp))
            for name, frame in tables.items()
        }
