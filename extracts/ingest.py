"""Load one day's extract files into the warehouse's ``raw`` schema, or quarantine them.

Each raw table keeps the file's text as-is plus ``extract_date``, ``source_file`` and
``source_row``. Loading a day replaces that day's rows in one transaction, so a re-run never
duplicates and a failure leaves the table as it was.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from extracts.contract import EXTRACTS
from extracts.faults import crash_point
from extracts.validate import (
    BATCH_ROWS,
    MAX_REPORTED_FAILURES,
    ExtractError,
    check_rows,
    check_whole_file,
    find_extract_file,
    master_ids,
    read_extract_batches,
)

DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
QUARANTINE = "_quarantine"
STAGING_SCHEMA = "raw_incoming"  # one file's checked rows before they replace the day


@dataclass(frozen=True)
class LoadResult:
    extract: str
    extract_date: dt.date
    source_file: str
    rows: int


def landing_folder(landing: Path, extract_date: dt.date | str) -> Path:
    """``<landing>/<YYYY-MM-DD>``; the date is parsed, so no other path can be produced."""
    day = (
        extract_date
        if isinstance(extract_date, dt.date)
        else dt.date.fromisoformat(str(extract_date))
    )
    return Path(landing) / day.isoformat()


def landing_days(landing: Path) -> list[dt.date]:
    """Dates of the day folders present in a landing folder, oldest first."""
    landing = Path(landing)
    if not landing.exists():
        return []
    days = []
    for child in landing.iterdir():
        if child.is_dir() and DAY_FOLDER.match(child.name):
            try:
                days.append(dt.date.fromisoformat(child.name))
            except ValueError:
                continue
    return sorted(days)


def quarantine(path: Path, landing: Path, extract_date: dt.date, reason: str) -> Path:
    """Move a bad file aside to ``<landing>/_quarantine/<date>/`` with a ``.reason.txt``."""
    target_dir = Path(landing) / QUARANTINE / extract_date.isoformat()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    shutil.move(str(path), target)
    (target_dir / f"{path.name}.reason.txt").write_text(reason + "\n")
    return target


def raw_table_ddl(name: str) -> str:
    columns = ", ".join(f'"{c}" VARCHAR' for c in EXTRACTS[name].column_names)
    return (
        f'CREATE TABLE IF NOT EXISTS raw."{name}" (extract_date DATE NOT NULL, '
        f"source_file VARCHAR NOT NULL, source_row INTEGER NOT NULL, "
        f"loaded_at TIMESTAMP NOT NULL, {columns})"
    )


@contextmanager
def frame_transaction(
    con: duckdb.DuckDBPyConnection, view: str, frame: pd.DataFrame
) -> Iterator[None]:
    """``frame`` visible as ``view`` inside one transaction: committed if the block ends,
    rolled back if it raises, so a table is replaced whole or left as it was."""
    con.register(view, frame)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            yield
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister(view)


def ingest_extract(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    extract_date: dt.date,
    name: str,
    batch_rows: int = BATCH_ROWS,
) -> LoadResult:
    """Check and load one extract of one day into ``raw.<name>``, replacing that day's rows.

    The file is read and checked ``batch_rows`` rows at a time into a staging table
    (``raw_incoming.<name>``; memory: one batch), duplicate keys are found over the whole file
    in SQL, and only then one transaction replaces the day's rows in ``raw.<name>`` (a bulk
    INSERT ... SELECT that DuckDB writes straight to disk). Any failure leaves ``raw`` as it
    was (a new table is not even created), drops the staging table, moves the file to the
    quarantine with the reason, and raises ExtractError.
    """
    extract = EXTRACTS[name]
    folder = landing_folder(landing, extract_date)
    path = find_extract_file(folder, name)
    if path is None:
        quarantined = Path(landing) / QUARANTINE / extract_date.isoformat()
        hint = (
            f" (a file of that name is in {quarantined})"
            if any(quarantined.glob(f"{name}.*"))
            else ""
        )
        raise ExtractError(
            folder / f"{name}.csv", [(None, None, f"expected file not found in {folder}{hint}")]
        )
    referenced = {c.references for c in extract.columns if c.references}
    if "every_item_has_a_lane" in extract.extra_rules:
        referenced.add("items")
    masters = master_ids(folder, sorted(referenced))
    columns = ", ".join(f'"{c}"' for c in extract.column_names)
    staged = f'{STAGING_SCHEMA}."{name}"'
    rows = 0
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {STAGING_SCHEMA}")
        con.execute(  # a crashed load's leftovers go too
            f"CREATE OR REPLACE TABLE {staged} AS SELECT * FROM ({_empty_raw(name)})"
        )
        whole: list[pd.DataFrame] = []
        for batch in read_extract_batches(path, extract, batch_rows):
            failures = check_rows(batch, extract, masters, extract_date)
            if failures:
                raise ExtractError(path, failures)
            if extract.extra_rules:  # whole-file rules: small files (the lanes) only
                whole.append(batch)
            con.register("incoming_rows", batch.assign(source_row=batch.index + 1))
            try:
                con.execute(
                    f"INSERT INTO {staged} (extract_date, source_file, source_row, loaded_at, "
                    f"{columns}) SELECT ?, ?, source_row, now()::TIMESTAMP, {columns} "
                    "FROM incoming_rows",
                    [extract_date, path.name],
                )
            finally:
                con.unregister("incoming_rows")
            rows += len(batch)
            del batch
            gc.collect()  # the checks' closures hold the batch in a cycle: free it now
        failures = _duplicate_keys(con, staged, name)
        if whole:
            failures += check_whole_file(pd.concat(whole), extract, masters)
        if failures:
            raise ExtractError(path, failures)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("CREATE SCHEMA IF NOT EXISTS raw")
            con.execute(raw_table_ddl(name))
            con.execute(f'DELETE FROM raw."{name}" WHERE extract_date = ?', [extract_date])
            con.execute(f'INSERT INTO raw."{name}" SELECT * FROM {staged}')
            crash_point(f"ingest:{name}")  # the day's rows replaced, not yet committed
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except ExtractError as error:
        quarantine(path, landing, extract_date, str(error))
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {staged}")
    return LoadResult(name, extract_date, path.name, rows)


def _empty_raw(name: str) -> str:
    """A query with the columns and types of ``raw.<name>`` and no rows."""
    columns = ", ".join(f'NULL::VARCHAR AS "{c}"' for c in EXTRACTS[name].column_names)
    return (
        "SELECT NULL::DATE AS extract_date, NULL::VARCHAR AS source_file, "
        f"NULL::INTEGER AS source_row, NULL::TIMESTAMP AS loaded_at, {columns} LIMIT 0"
    )


def _duplicate_keys(
    con: duckdb.DuckDBPyConnection, table: str, name: str
) -> list[tuple[int | None, str | None, str]]:
    """Rows whose key (trimmed, upper-cased) repeats an earlier row of the same day's file."""
    key = EXTRACTS[name].key
    normal = ", ".join(f'upper(trim("{k}")) AS "{k}"' for k in key)
    partition = ", ".join(f'"{k}"' for k in key)
    found = con.execute(
        f"SELECT source_row, {partition} FROM (SELECT source_row, {partition}, row_number() "
        f"OVER (PARTITION BY {partition} ORDER BY source_row) AS occurrence FROM "
        f"(SELECT source_row, {normal} FROM {table})) "
        f"WHERE occurrence > 1 ORDER BY source_row LIMIT {MAX_REPORTED_FAILURES + 1}",
    ).fetchall()
    return [
        (
            row[0],
            "+".join(key),
            "duplicate key ("
            + ", ".join(f"{k}={v}" for k, v in zip(key, row[1:], strict=True))
            + ")",
        )
        for row in found
    ]
