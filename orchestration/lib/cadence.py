"""Steps on a cadence: a step whose output need not follow every day (the what-if scenarios,
the held-out replay, the forecast until a bucket ends) keeps its last output until it is
``cadence_days`` old or its settings change. Each such step writes its settings (as text) to a
one-row ``<schema>.<table>`` next to its output, stamped with the run date like every result
table."""

import datetime as dt

import dagster as dg
import duckdb


def kept_from(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    settings: str,
    run_date: dt.date,
    cadence_days: int,
) -> dt.date | None:
    """The day the step's output in the warehouse was made, if it may be kept for
    ``run_date``: made with the same ``settings`` less than ``cadence_days`` before it (not
    after it: a backfill of an earlier day re-runs the step; 0: every run)."""
    try:
        rows = con.execute(f'SELECT settings, run_date FROM "{schema}"."{table}"').fetchall()
    except duckdb.CatalogException:
        return None
    row = rows[0] if rows else None
    if row is None or row[0] != settings:
        return None
    age = (run_date - row[1]).days
    return row[1] if 0 <= age < cadence_days else None


def kept_output(
    context: dg.AssetExecutionContext,
    output: str,
    made_on: dt.date,
    cadence_days: int,
    metadata: dict,
    why: str = "same settings",
) -> dg.MaterializeResult:
    """The materialization of a step that keeps its last ``output`` (made on ``made_on``),
    logged with why."""
    context.log.info(
        f"{output} kept as made on {made_on} ({why}, made again every {cadence_days} days)"
    )
    return dg.MaterializeResult(metadata=metadata)
