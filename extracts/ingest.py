"""Load one day's extract files into the warehouse's ``raw`` schema, or quarantine them.

Each day's file is its own table, ``raw_days."<extract>@<YYYY-MM-DD>"``: the file's text as-is,
rows in file order. ``raw.<extract>`` is a view over that extract's days adding
``extract_date``, ``source_file``, ``source_row`` (the row's place in the file, from 1) and
``loaded_at``. A file is read straight into a new table (one pass, DuckDB's parallel reader,
as fast as a bare ``CREATE TABLE AS read_csv``), checked there, and only if it passes swapped in
for that day in one transaction with the view: a re-run never duplicates, a failure or a crash
leaves ``raw`` as it was, and no copy of the rows is made.
"""

from __future__ import annotations

import contextlib
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
from extracts.validate import (
    ExtractError,
    WarehouseWriteError,
    check_header,
    check_rows,
    check_whole_file,
    find_extract_file,
    master_ids,
    sql_text,
    stage_file,
    storage_failure,
)
from faults import crash_point

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
    """Move a bad file aside to ``<landing>/_quarantine/<date>/`` with a ``.reason.txt`` (a
    symbolic link is moved as the link; a quarantine folder that is a link is refused: nothing
    is written outside the landing)."""
    target_dir = Path(landing) / QUARANTINE / extract_date.isoformat()
    for folder in (target_dir.parent, target_dir):
        if folder.is_symlink():
            raise ExtractError(
                path, [(None, None, f"{folder} is a symbolic link: refusing to write through it")]
            )
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    shutil.move(str(path), target)
    (target_dir / f"{path.name}.reason.txt").write_text(reason + "\n")
    return target


DAYS = "raw_days"  # schema of the per-day tables
LOADS = f"{DAYS}.loaded_days"  # one row per extract x day loaded


def held_days(con: duckdb.DuckDBPyConnection, landing: Path) -> pd.DataFrame:
    """Extracts of landing days up to the latest day loaded that are not loaded: the day is
    held (a plan made now would silently lack its rows). One row per extract_date x extract
    with the reason: the quarantine's, else that no file was delivered. Empty before anything
    was loaded."""
    columns = ["extract_date", "extract", "reason"]
    try:
        loaded = con.execute(f"SELECT extract, extract_date FROM {LOADS}").fetchall()
    except duckdb.CatalogException:
        return pd.DataFrame(columns=columns)
    if not loaded:
        return pd.DataFrame(columns=columns)
    done = {(name, day) for name, day in loaded}
    latest = max(day for _, day in loaded)
    rows = []
    for day in landing_days(landing):
        if day > latest:
            continue
        for name in EXTRACTS:
            if (name, day) in done:
                continue
            reasons = sorted(
                (Path(landing) / QUARANTINE / day.isoformat()).glob(f"{name}.*.reason.txt")
            )
            reason = (
                f"quarantined: {reasons[-1].read_text().strip().splitlines()[0]}"
                if reasons
                else "no file delivered"
            )
            rows.append((day, name, reason))
    return pd.DataFrame(rows, columns=columns)


def day_table(name: str, extract_date: dt.date, incoming: bool = False, schema: bool = True) -> str:
    """Quoted SQL name of an extract's table for one day (``incoming``: while it is checked;
    ``schema``: qualified by the DAYS schema). ``name`` is a contract extract name and the date
    is a date: nothing else reaches the SQL."""
    if name not in EXTRACTS:
        raise KeyError(f"unknown extract {name!r}")
    suffix = "@incoming" if incoming else ""
    table = f'"{name}@{dt.date.fromisoformat(str(extract_date)).isoformat()}{suffix}"'
    return f"{DAYS}.{table}" if schema else table


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One DuckDB transaction: committed if the block ends, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _refresh_view(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """(Re)create ``raw.<name>`` over the extract's loaded days; dropped when none is left."""
    loads = con.execute(
        f"SELECT extract_date, source_file, loaded_at FROM {LOADS} WHERE extract = ? "
        "ORDER BY extract_date",
        [name],
    ).fetchall()
    if not loads:
        con.execute(f'DROP VIEW IF EXISTS raw."{name}"')
        return
    columns = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in EXTRACTS[name].column_names)
    days = " UNION ALL ".join(
        f"SELECT DATE '{day.isoformat()}' AS extract_date, {sql_text(source_file)} AS source_file, "
        f"rowid + 1 AS source_row, TIMESTAMP '{loaded_at.isoformat()}' AS loaded_at, {columns} "
        f"FROM {day_table(name, day)}"
        for day, source_file, loaded_at in loads
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(f'CREATE OR REPLACE VIEW raw."{name}" AS {days}')


def _ensure_days_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DAYS}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {LOADS} (extract VARCHAR NOT NULL, extract_date DATE NOT "
        "NULL, source_file VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL, rows BIGINT NOT NULL, "
        "PRIMARY KEY (extract, extract_date))"
    )


def remove_day(con: duckdb.DuckDBPyConnection, name: str, extract_date: dt.date) -> None:
    """Unload one extract's day (e.g. a day loaded by mistake), in one transaction."""
    _ensure_days_schema(con)
    with transaction(con):
        con.execute(f"DROP TABLE IF EXISTS {day_table(name, extract_date)}")
        con.execute(
            f"DELETE FROM {LOADS} WHERE extract = ? AND extract_date = ?", [name, extract_date]
        )
        _refresh_view(con, name)


@contextmanager
def frame_transaction(
    con: duckdb.DuckDBPyConnection, view: str, frame: pd.DataFrame
) -> Iterator[None]:
    """``frame`` visible as ``view`` inside one transaction: committed if the block ends,
    rolled back if it raises, so a table is replaced whole or left as it was."""
    con.register(view, frame)
    try:
        with transaction(con):
            yield
    finally:
        con.unregister(view)


def ingest_extract(
    con: duckdb.DuckDBPyConnection, landing: Path, extract_date: dt.date, name: str
) -> LoadResult:
    """Check and load one extract of one day, replacing that day's rows in ``raw.<name>``.

    The file is read by DuckDB's own reader into the day's incoming table (written to disk as
    it goes, so memory stays bounded) and the contract's checks run in SQL on it (row rules and
    repeated keys in one scan, whole-file rules). Only if all pass does one transaction put it
    in place of the day's previous table and refresh the view. Any failure drops the incoming
    table (``raw`` is as it was), moves the file to the quarantine with the reason, and raises
    ExtractError.
    """
    extract = EXTRACTS[name]
    folder = landing_folder(landing, extract_date)
    try:
        path = find_extract_file(folder, name)
    except ExtractError as error:  # both formats, a directory or a link: all of them aside
        for suffix in (".csv", ".parquet"):
            landed = folder / f"{name}{suffix}"
            if landed.is_symlink() or landed.exists():
                quarantine(landed, landing, extract_date, str(error))
        raise
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
    incoming = day_table(name, extract_date, incoming=True)
    try:
        check_header(con, path, extract)
        _ensure_days_schema(con)
        try:
            rows_sql = stage_file(con, path, incoming)
            rows = con.execute(f"SELECT count(*) FROM {incoming}").fetchall()[0][0]
            if rows == 0 and not extract.allow_header_only:
                raise ExtractError(path, [(None, None, "file has a header but no rows")])
            failures = check_rows(con, rows_sql, extract, masters, extract_date)
            if extract.extra_rules:  # whole-file rules: small files (the lanes) only
                failures += check_whole_file(
                    con.execute(f"SELECT {columns} FROM {incoming}").df(), extract, masters
                )
            if failures:
                raise ExtractError(path, failures)
            _swap_in(con, name, extract_date, path.name, rows)
        finally:
            with contextlib.suppress(duckdb.Error):  # a full disk may refuse even this
                con.execute(f"DROP TABLE IF EXISTS {incoming}")
    except ExtractError as error:
        quarantine(path, landing, extract_date, str(error))
        raise
    except (duckdb.Error, OSError) as exc:  # writing the warehouse failed, not the file
        if isinstance(exc, WarehouseWriteError) or not storage_failure(exc):
            raise
        raise WarehouseWriteError.loading(path, exc) from exc
    return LoadResult(name, extract_date, path.name, int(rows))


def _swap_in(
    con: duckdb.DuckDBPyConnection, name: str, extract_date: dt.date, source_file: str, rows: int
) -> None:
    """The checked incoming table becomes the day's table, in one transaction with the view."""
    with transaction(con):
        con.execute(f"DROP TABLE IF EXISTS {day_table(name, extract_date)}")
        con.execute(
            f"ALTER TABLE {day_table(name, extract_date, incoming=True)} "
            f"RENAME TO {day_table(name, extract_date, schema=False)}"
        )
        con.execute(
            f"DELETE FROM {LOADS} WHERE extract = ? AND extract_date = ?", [name, extract_date]
        )
        con.execute(
            f"INSERT INTO {LOADS} VALUES (?, ?, ?, now()::TIMESTAMP, ?)",
            [name, extract_date, source_file, rows],
        )
        _refresh_view(con, name)
        crash_point(f"ingest:{name}")  # the day's rows replaced, not yet committed
