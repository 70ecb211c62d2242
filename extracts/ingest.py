"""Load one day's extract files into the warehouse's ``raw`` schema, or quarantine them.

Each raw table keeps the file's text as-is plus ``extract_date``, ``source_file`` and
``source_row``. Loading a day replaces that day's rows in one transaction, so a re-run never
duplicates and a failure leaves the table as it was.
"""

from __future__ import annotations

import datetime as dt
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
    ExtractError,
    check_header,
    check_rows,
    check_whole_file,
    duplicate_keys,
    find_extract_file,
    master_ids,
    stage_file,
)

DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
QUARANTINE = "_quarantine"


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
    con: duckdb.DuckDBPyConnection, landing: Path, extract_date: dt.date, name: str
) -> LoadResult:
    """Check and load one extract of one day into ``raw.<name>``, replacing that day's rows.

    One transaction: the day's old rows are deleted, the file is read by DuckDB's own reader
    straight into the table (written to disk as it goes, so memory stays bounded), and the
    contract's checks run in SQL on the new rows (row rules, duplicate keys, whole-file rules).
    Only if all pass is it committed. Any failure rolls back (``raw`` is as it was; a new table
    is not even created), moves the file to the quarantine with the reason, and raises
    ExtractError.
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
    day_rows = (
        f"(SELECT * FROM raw.\"{name}\" WHERE extract_date = DATE '{extract_date.isoformat()}')"
    )
    try:
        check_header(con, path, extract)
        staged = f"staged_{name}"
        rows_sql = stage_file(con, path, staged)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("CREATE SCHEMA IF NOT EXISTS raw")
            con.execute(raw_table_ddl(name))
            con.execute(f'DELETE FROM raw."{name}" WHERE extract_date = ?', [extract_date])
            rows = con.execute(
                f'INSERT INTO raw."{name}" (extract_date, source_file, source_row, loaded_at, '
                f"{columns}) SELECT ?, ?, source_row, now()::TIMESTAMP, {columns} FROM {rows_sql}",
                [extract_date, path.name],
            ).fetchall()[0][0]
            if rows == 0 and not extract.allow_header_only:
                raise ExtractError(path, [(None, None, "file has a header but no rows")])
            failures = check_rows(con, day_rows, extract, masters, extract_date)
            failures += duplicate_keys(con, day_rows, extract)
            if extract.extra_rules:  # whole-file rules: small files (the lanes) only
                failures += check_whole_file(
                    con.execute(f"SELECT {columns} FROM {day_rows}").df(), extract, masters
                )
            if failures:
                raise ExtractError(path, failures)
            crash_point(f"ingest:{name}")  # the day's rows replaced, not yet committed
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.execute(f'DROP TABLE IF EXISTS temp.main."{staged}"')
    except ExtractError as error:
        quarantine(path, landing, extract_date, str(error))
        raise
    return LoadResult(name, extract_date, path.name, int(rows))
