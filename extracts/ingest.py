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
from extracts.validate import ExtractError, find_extract_file, master_ids, validate_extract

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


def write_raw(
    con: duckdb.DuckDBPyConnection,
    name: str,
    extract_date: dt.date,
    source_file: str,
    rows: pd.DataFrame,
) -> int:
    """Replace the rows of ``extract_date`` in ``raw.<name>`` with ``rows`` (one transaction)."""
    if name not in EXTRACTS:
        raise KeyError(f"unknown extract {name!r}")
    frame = rows.copy()
    frame.insert(0, "source_row", range(1, len(frame) + 1))
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(raw_table_ddl(name))
    columns = ", ".join(f'"{c}"' for c in EXTRACTS[name].column_names)
    with frame_transaction(con, "incoming_rows", frame):
        con.execute(f'DELETE FROM raw."{name}" WHERE extract_date = ?', [extract_date])
        con.execute(
            f'INSERT INTO raw."{name}" (extract_date, source_file, source_row, loaded_at, {columns}) '
            f"SELECT ?, ?, source_row, now()::TIMESTAMP, {columns} FROM incoming_rows",
            [extract_date, source_file],
        )
        crash_point(f"ingest:{name}")  # mid-transaction: the day's rows deleted and re-inserted
    return len(frame)


def validate_day_file(landing: Path, extract_date: dt.date, name: str) -> tuple[Path, pd.DataFrame]:
    """Find and validate one extract of a day; quarantine it and raise ExtractError if bad."""
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
    try:
        referenced = {c.references for c in EXTRACTS[name].columns if c.references}
        if "every_item_has_a_lane" in EXTRACTS[name].extra_rules:
            referenced.add("items")
        masters = master_ids(folder, sorted(referenced))
        frame = validate_extract(path, name, masters, extract_date)
    except ExtractError as error:
        quarantine(path, landing, extract_date, str(error))
        raise
    return path, frame


def ingest_extract(
    con: duckdb.DuckDBPyConnection, landing: Path, extract_date: dt.date, name: str
) -> LoadResult:
    """Validate then load one extract of one day. Nothing is written if validation fails."""
    path, frame = validate_day_file(landing, extract_date, name)
    rows = write_raw(con, name, extract_date, path.name, frame)
    return LoadResult(name, extract_date, path.name, rows)
