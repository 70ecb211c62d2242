"""Writes of the Python assets' results to the warehouse, and the run facts they stamp."""

import datetime as dt
import functools

import dagster as dg
import duckdb
import pandas as pd

from extracts.ingest import frame_transaction


def replace_table(
    con: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pd.DataFrame
) -> int:
    """Replace ``schema.name`` with ``frame`` in one transaction; returns the row count."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    with frame_transaction(con, "frame_to_write", frame):
        con.execute(f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS SELECT * FROM frame_to_write')
    return len(frame)


def replace_days(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    frame: pd.DataFrame,
    days: list[dt.date],
) -> int:
    """The rows of ``days`` (column ``run_date``) in ``schema.name`` replaced by ``frame`` in one
    transaction, other days' rows kept (the table is created on first use); returns the rows
    written."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    table = f'"{schema}"."{name}"'
    with frame_transaction(con, "frame_to_write", frame):
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS FROM frame_to_write LIMIT 0")
        con.execute(f"DELETE FROM {table} WHERE run_date IN (SELECT unnest(?::DATE[]))", [days])
        con.execute(f"INSERT INTO {table} BY NAME FROM frame_to_write")
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


@functools.cache
def catalogue():
    """What every published table and column means (``serving.catalogue``), read once."""
    from orchestration.defs.dbt import dbt_project
    from serving.catalogue import load_catalogue

    return load_catalogue(dbt_project.manifest_path)


def table_metadata(
    frame: pd.DataFrame, table: str, stamped: tuple[str, ...] = ("run_date", "scenario")
) -> dict:
    """Dagster's row count and column schema of the table ``frame`` was written as (with the
    ``stamped`` columns ``write_results`` adds), each column described as the published
    table describes it (serving/catalogue.yml)."""
    described = catalogue()
    types = {str(k): str(v) for k, v in frame.dtypes.items()}
    types |= {name: "date" if name == "run_date" else "object" for name in stamped}
    columns = [
        dg.TableColumn(name=name, type=kind, description=described.column(table, name) or None)
        for name, kind in types.items()
    ]
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": dg.TableSchema(columns=columns),
    }
