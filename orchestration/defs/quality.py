"""Blocking pandera asset checks on the marts: a failure stops publication of the run."""

from collections.abc import Iterator

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from extracts.mart_checks import MART_SCHEMAS, TEXT, check_mart
from orchestration.defs.dbt import mart_key
from orchestration.defs.warehouse import large_read


def build_mart_check(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=mart_key(name),
        name=f"{name}_pandera",
        blocking=True,
        description=f"pandera rules on marts.{name} (extracts/mart_checks.py).",
    )
    def mart_check(warehouse: DuckDBResource) -> dg.AssetCheckResult:
        failures, rows = [], 0
        with warehouse.get_connection() as con:
            for frame in read_mart_in_parts(con, name):
                failures += check_mart(name, frame)
                rows += len(frame)
        return dg.AssetCheckResult(
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            description="\n".join(failures[:10]) if failures else f"{rows} rows pass",
            metadata={"rows": rows, "failures": len(failures)},
        )

    return mart_check


PART_ROWS = 1_000_000  # rows of a mart checked at a time (5 M: 9.9 GiB peak at 2,000 items)


def read_mart_in_parts(con: duckdb.DuckDBPyConnection, name: str) -> Iterator[pd.DataFrame]:
    """A mart in parts of about ``PART_ROWS`` rows; a mart keyed by item is read once in item
    order and cut between items, so every rule (uniqueness included) sees all the rows of the
    items it checks."""
    table = f'marts."{name}"'
    columns = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
    if "sku" not in columns:
        yield _as_frame(con.sql(f"SELECT * FROM {table}").to_arrow_table())
        return
    with large_read(con):  # the sort spills to disk beyond LARGE_READ_MEMORY
        yield from _item_parts(con, table)


def _item_parts(con: duckdb.DuckDBPyConnection, table: str) -> Iterator[pd.DataFrame]:
    pieces, rows = [], 0
    for batch in con.sql(f"SELECT * FROM {table} ORDER BY sku").to_arrow_reader(PART_ROWS):
        pieces.append(_as_frame(batch))
        rows += batch.num_rows
        if rows < PART_ROWS:
            continue
        frame = pd.concat(pieces, ignore_index=True)
        last_item = (frame["sku"] == frame["sku"].iat[-1]).to_numpy()
        if last_item.all():  # one item of more than PART_ROWS rows: keep reading
            continue
        yield frame[~last_item]
        pieces, rows = [frame[last_item]], int(last_item.sum())
    if rows:
        yield pd.concat(pieces, ignore_index=True)


def _as_frame(rows: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """Arrow rows as pandas: text as Arrow strings (the schemas' ``TEXT``), dates as datetime64."""
    return rows.to_pandas(date_as_object=False, types_mapper={pa.string(): TEXT}.get)


mart_checks = [build_mart_check(name) for name in MART_SCHEMAS]
