"""Publish warehouse tables to a serving DuckDB file and to Parquet snapshots that BI reads.

The new DuckDB copy is written aside and swapped in with an atomic rename, so a reader sees the
previous complete plan or the new complete one, never half a refresh, and never a lock; but a
process that keeps any connection to the file (a BI server's pool) keeps reading the old one
until every connection there is closed (DuckDB keeps one instance per path and process).

So every publication also writes each table as Parquet into a new, immutable folder
``snapshots/<snapshot>/`` (``snapshot`` = run date and publication time) and then flips the
symbolic link ``current`` to it atomically. A reader that points at ``current/<table>.parquet``
(or at the views of ``views.sql``, which read those files) gets the newest plan on its next
query, with no reconnection; one that needs several tables from one plan resolves the snapshot
once (``publication.snapshot``) and reads ``snapshots/<snapshot>/``, which stays for the next
SNAPSHOTS_KEPT - 1 publications. Tables named in ``history`` also accumulate one slice per run
date in ``<name>_history`` so BI can compare plans over time (a re-run of a date replaces that
date's slice).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from faults import crash_point
from serving.catalogue import Catalogue, comment_statements

SERVING_FILE = "meio.duckdb"
OUTPUT_VERSION = 1
SNAPSHOTS = "snapshots"  # folder of the Parquet snapshots, one folder per publication
CURRENT = "current"  # symbolic link to the newest snapshot's folder
VIEWS_FILE = "views.sql"  # DuckDB views over current/*.parquet, for readers that keep connections
SNAPSHOTS_KEPT = 3  # a reader pinned to a snapshot has two more publications to finish


@dataclass(frozen=True)
class PublishedTable:
    schema: str
    name: str
    rows: int


def publish(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[tuple[str, str]],
    serving_dir: Path,
    run_date: dt.date,
    history: Sequence[str] = (),
    catalogue: Catalogue | None = None,
    currency: str = "",
) -> list[PublishedTable]:
    """Copy ``(schema, table)`` pairs from the warehouse behind ``con`` into the serving file.

    Every published table gets ``output_version``; ``publication`` records the run date, the
    ``currency`` of the value columns and the row count of each table, so a reader can check
    it read one complete plan. Publishing a day older than the one already published (a
    backfill) replaces that day's history slices and keeps the newer current plan. Tables and
    columns carry the ``catalogue``'s descriptions as COMMENTs (also on the views of
    ``views.sql``).
    """
    serving_dir = Path(serving_dir)
    serving_dir.mkdir(parents=True, exist_ok=True)
    final = serving_dir / SERVING_FILE
    staging = serving_dir / f".{SERVING_FILE}.{os.getpid()}.tmp"
    for leftover in serving_dir.glob(f".{SERVING_FILE}.*.tmp*"):  # a crashed run's copy
        leftover.unlink()
    published: list[PublishedTable] = []
    published_at = dt.datetime.now()
    snapshot = f"{run_date.isoformat()}_{published_at:%Y%m%dT%H%M%S_%f}"
    con.execute("ATTACH ? AS serving_copy", [str(staging)])
    previous = final.exists()
    if previous:
        con.execute("ATTACH ? AS serving_previous (READ_ONLY)", [str(final)])
    try:
        old_tables = set()
        latest_run_date = run_date
        if previous:
            old_tables = {
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = 'serving_previous'"
                ).fetchall()
            }
            if "publication" in old_tables:
                before = con.execute("SELECT run_date FROM serving_previous.main.publication")
                latest_run_date = max(run_date, before.fetchone()[0])
        # a backfill of an older day corrects its history slice; the current plan stays the newest
        keep_current = latest_run_date > run_date
        for schema, name in tables:
            if keep_current and name in old_tables:
                source = f'SELECT * FROM serving_previous.main."{name}"'
            else:
                source = f'SELECT *, {OUTPUT_VERSION} AS output_version FROM "{schema}"."{name}"'
            con.execute(f'CREATE TABLE serving_copy.main."{name}" AS {source}')
            rows = con.execute(f'SELECT count(*) FROM serving_copy.main."{name}"').fetchone()[0]
            published.append(PublishedTable(schema, name, rows))
            crash_point(f"publish:{name}")  # the new copy half written
        schema_of = {name: schema for schema, name in tables}
        for name in history:
            target = f"{name}_history"
            current = (
                f"SELECT ?::DATE AS published_run_date, *, {OUTPUT_VERSION} AS output_version "
                f'FROM "{schema_of[name]}"."{name}"'
            )
            if target in old_tables:
                con.execute(
                    f'CREATE TABLE serving_copy.main."{target}" AS '
                    f'SELECT * FROM serving_previous.main."{target}" WHERE published_run_date <> ? '
                    f"UNION ALL BY NAME {current}",
                    [run_date, run_date],
                )
            else:
                con.execute(f'CREATE TABLE serving_copy.main."{target}" AS {current}', [run_date])
        con.execute(
            "CREATE TABLE serving_copy.main.publication AS SELECT ?::DATE AS run_date, "
            "?::TIMESTAMP AS published_at, ? AS output_version, ? AS snapshot, "
            "?::VARCHAR AS currency",
            [latest_run_date, published_at, OUTPUT_VERSION, snapshot, currency],
        )
        con.execute(
            "CREATE TABLE serving_copy.main.published_tables (table_name VARCHAR, row_count BIGINT)"
        )
        con.executemany(
            "INSERT INTO serving_copy.main.published_tables VALUES (?, ?)",
            [(p.name, p.rows) for p in published],
        )
        names = [p.name for p in published] + [f"{n}_history" for n in history]
        names += ["publication", "published_tables"]
        columns = _columns(con, "serving_copy", names)
        if catalogue is not None:
            for name in names:
                relation = f'serving_copy.main."{name}"'
                for statement in comment_statements(catalogue, relation, name, columns[name]):
                    con.execute(statement)
        folder = _write_snapshot(con, serving_dir, snapshot, names)
    except Exception:
        # a failed copy (a full disk among the causes) leaves nothing behind: the copy, its
        # write-ahead log and a half-written snapshot
        with contextlib.suppress(duckdb.Error):
            con.execute("DETACH serving_copy")
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
        shutil.rmtree(serving_dir / SNAPSHOTS / f".{snapshot}.tmp", ignore_errors=True)
        raise
    finally:
        if previous:
            con.execute("DETACH serving_previous")
    con.execute("DETACH serving_copy")
    crash_point("publish:before_swap")
    with open(staging, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, final)
    _flip_current(serving_dir, folder)
    _fsync_directory(serving_dir)
    _write_views(serving_dir, columns, catalogue)
    _prune_snapshots(serving_dir, keep=SNAPSHOTS_KEPT)
    return published


def _write_snapshot(
    con: duckdb.DuckDBPyConnection, serving_dir: Path, snapshot: str, names: list[str]
) -> Path:
    """Each table of the new copy as ``snapshots/<snapshot>/<name>.parquet``, written in a
    hidden folder and renamed into place: a snapshot folder is complete or absent."""
    root = serving_dir / SNAPSHOTS
    root.mkdir(exist_ok=True)
    for leftover in root.glob(".*.tmp"):  # a crashed run's half-written snapshot
        shutil.rmtree(leftover, ignore_errors=True)
    writing = root / f".{snapshot}.tmp"
    writing.mkdir()
    for name in names:
        con.execute(
            f'COPY serving_copy.main."{name}" TO ? (FORMAT parquet)',
            [str(writing / f"{name}.parquet")],
        )
    crash_point("publish:parquet")  # the snapshot written, not yet in place
    final = root / snapshot
    os.replace(writing, final)
    return final


def _flip_current(serving_dir: Path, folder: Path) -> None:
    """Point ``current`` at ``folder`` in one atomic rename of a new link over the old one."""
    link = serving_dir / CURRENT
    if link.is_dir() and not link.is_symlink():  # a copy of the folder made it a real one
        shutil.rmtree(link)
    fresh = serving_dir / f".{CURRENT}.{os.getpid()}.tmp"
    fresh.unlink(missing_ok=True)
    os.symlink(Path(SNAPSHOTS) / folder.name, fresh, target_is_directory=True)
    os.replace(fresh, link)


def _columns(con: duckdb.DuckDBPyConnection, database: str, names: list[str]) -> dict:
    """Column names of each of ``names`` in ``database``'s main schema, in order."""
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ? "
        "AND schema_name = 'main' ORDER BY table_name, column_index",
        [database],
    ).fetchall()
    out: dict[str, list[str]] = {name: [] for name in names}
    for table, column in rows:
        if table in out:
            out[table].append(column)
    return out


def _write_views(
    serving_dir: Path, columns: dict[str, list[str]], catalogue: Catalogue | None
) -> None:
    """``views.sql``: one view per table over ``current/<table>.parquet`` (absolute paths),
    with the catalogue's COMMENTs, for a DuckDB reader to run once on a connection it keeps."""
    current = (serving_dir / CURRENT).absolute()
    lines = []
    for name, names in columns.items():
        lines.append(
            f"CREATE OR REPLACE VIEW \"{name}\" AS FROM read_parquet('{current / name}.parquet');"
        )
        if catalogue is not None:
            lines += [
                f"{statement};"
                for statement in comment_statements(catalogue, f'"{name}"', name, names, "VIEW")
            ]
    staging = serving_dir / f".{VIEWS_FILE}.{os.getpid()}.tmp"
    staging.write_text("\n".join(lines) + "\n")
    os.replace(staging, serving_dir / VIEWS_FILE)


def _prune_snapshots(serving_dir: Path, keep: int) -> None:
    """All but the ``keep`` newest snapshot folders removed (never the current one)."""
    root = serving_dir / SNAPSHOTS
    current = os.path.realpath(serving_dir / CURRENT)
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in folders[:-keep]:
        if os.path.realpath(old) != current:
            shutil.rmtree(old, ignore_errors=True)


def _fsync_directory(folder: Path) -> None:
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
