"""pandera rules on the dbt marts, run as blocking Dagster asset checks before publication.

Rules on values and types live here; keys are dbt's tests (``unique_combination`` on the
demand mart's location x item x day, run by the same refresh's ``dbt build``, whose failure
stops the run): checking them again here meant reading 55 M rows sorted by item at 2,000
items (23.0 s against 4-5 s for the value rules alone)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.errors import SchemaErrors

from extracts.validate import lane_cycles
from marts.reads import large_read

TEXT = pd.StringDtype("pyarrow")  # ids as read from the marts: Arrow strings, checked by dtype

MART_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "fct_customer_demand_daily": pa.DataFrameSchema(
        {
            "location_id": pa.Column(TEXT),
            "sku": pa.Column(TEXT),
            "demand_date": pa.Column("datetime64[us]", coerce=True),
            "demand_qty": pa.Column(
                float, pa.Check.ge(0, error="demand is negative after returns netting")
            ),
        },
    ),
    "fct_lane_lead_times": pa.DataFrameSchema(
        {
            "lead_time_mean_days": pa.Column(
                float, pa.Check.gt(0, error="lead time is not positive")
            ),
            "lead_time_stddev_days": pa.Column(float, pa.Check.ge(0)),
        }
    ),
    "fct_inventory_position": pa.DataFrameSchema(
        {
            "on_hand": pa.Column(float, pa.Check.ge(0, error="on hand is negative")),
            "allocated": pa.Column(float, pa.Check.ge(0)),
            "in_transit": pa.Column(float, pa.Check.ge(0)),
            "on_order": pa.Column(float, pa.Check.ge(0)),
        }
    ),
    "fct_item_network": pa.DataFrameSchema(
        {
            "source_location_type": pa.Column(TEXT, nullable=False),
            "destination_location_type": pa.Column(TEXT, nullable=False),
            "transit_days": pa.Column(float, pa.Check.ge(0)),
        }
    ),
}


def check_mart(name: str, frame: pd.DataFrame) -> list[str]:
    """Failures of one mart as readable lines (empty when the mart passes)."""
    failures: list[str] = []
    schema = MART_SCHEMAS.get(name)
    if schema is not None:
        try:
            schema.validate(frame, lazy=True)
        except SchemaErrors as errors:
            cases = errors.failure_cases.head(10)
            failures += [
                f"{name} row {c.index}, field {c.column}: {c.failure_case!r} fails {c.check}"
                for c in cases.itertuples(index=False)
            ]
    if name == "fct_item_network":
        failures += [
            f"{name}: lane cycle for item {item}: {' -> '.join(path)}"
            for item, *path in lane_cycles(frame)
        ]
    return failures


# A mart checked by day: a day whose rows are unchanged since they last passed is not read
# again (its rules read one row at a time).
DAY_COLUMNS = {"fct_customer_demand_daily": "demand_date"}
CHECKED_DAYS = "quality.checked_mart_days"  # mart, day, fingerprint, rules of days that passed


@dataclass
class MartCheck:
    """A mart check's outcome: failures as readable lines, rows read and checked, the mart's
    rows, and the days checked (None: the mart is not checked by day)."""

    failures: list[str]
    rows_checked: int
    rows: int
    days_checked: int | None = None


def _rules(name: str) -> str:
    return hashlib.sha256(repr(MART_SCHEMAS.get(name)).encode()).hexdigest()[:16]


def check_mart_in_warehouse(con: duckdb.DuckDBPyConnection, name: str) -> MartCheck:
    """``check_mart`` over ``marts.<name>``, read in parts. A mart of DAY_COLUMNS is read for
    the days whose rows (fingerprint: the sum of the rows' hashes) or rules changed since they
    last passed; when every rule passes, the days' fingerprints are recorded."""
    table = f'marts."{name}"'
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    day = DAY_COLUMNS.get(name)
    if day is None:
        failures, checked = [], 0
        for frame in read_mart_in_parts(con, name):
            failures += check_mart(name, frame)
            checked += len(frame)
        return MartCheck(failures, checked, rows)
    columns = ", ".join(f'"{c[0]}"' for c in con.execute(f"DESCRIBE {table}").fetchall())
    con.execute(
        "CREATE OR REPLACE TEMP TABLE mart_days AS "
        f'SELECT "{day}" AS day, sum(hash({columns}))::HUGEINT AS fingerprint '
        f'FROM {table} GROUP BY "{day}"'
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS quality")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {CHECKED_DAYS} "
        "(mart VARCHAR, day DATE, fingerprint HUGEINT, rules VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE unchecked_days AS SELECT day FROM mart_days "
        f"ANTI JOIN (SELECT day, fingerprint FROM {CHECKED_DAYS} WHERE mart = ? AND rules = ?) "
        "USING (day, fingerprint)",
        [name, _rules(name)],
    )
    days = con.execute("SELECT count(*) FROM unchecked_days").fetchall()[0][0]
    failures, checked = [], 0
    if days:
        where = f'WHERE "{day}" IN (SELECT day FROM unchecked_days)'
        for frame in read_mart_in_parts(con, name, where):
            failures += check_mart(name, frame)
            checked += len(frame)
    if not failures:
        con.execute(f"DELETE FROM {CHECKED_DAYS} WHERE mart = ?", [name])
        con.execute(
            f"INSERT INTO {CHECKED_DAYS} SELECT ?, day, fingerprint, ? FROM mart_days",
            [name, _rules(name)],
        )
    return MartCheck(failures, checked, rows, days)


PART_ROWS = 1_000_000  # rows of a mart checked at a time (5 M: 9.9 GiB peak at 2,000 items)
ITEM_RULES = {"fct_item_network"}  # marts whose rules read all of an item's rows together


def read_mart_in_parts(
    con: duckdb.DuckDBPyConnection, name: str, where: str = ""
) -> Iterator[pd.DataFrame]:
    """A mart (its rows ``where`` says, an SQL WHERE clause) in parts of about ``PART_ROWS``
    rows; a mart of ITEM_RULES is read in item order and cut between items, so that every
    rule sees all the rows of the items it checks."""
    source = f'marts."{name}" {where}'
    if name not in ITEM_RULES:
        yield from _parts(con, source)
        return
    with large_read(con):  # the sort spills to disk beyond LARGE_READ_MEMORY
        yield from _item_parts(con, source)


def _parts(con: duckdb.DuckDBPyConnection, source: str) -> Iterator[pd.DataFrame]:
    pieces, rows = [], 0
    for batch in con.sql(f"SELECT * FROM {source}").to_arrow_reader(PART_ROWS):
        pieces.append(batch)
        rows += batch.num_rows
        if rows >= PART_ROWS:
            yield _as_frame(pyarrow.Table.from_batches(pieces))
            pieces, rows = [], 0
    if pieces:
        yield _as_frame(pyarrow.Table.from_batches(pieces))


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


def _as_frame(rows: pyarrow.Table | pyarrow.RecordBatch) -> pd.DataFrame:
    """Arrow rows as pandas: text as Arrow strings (the schemas' ``TEXT``), dates as datetime64."""
    return rows.to_pandas(date_as_object=False, types_mapper={pyarrow.string(): TEXT}.get)
