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
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from faults import crash_point
from serving.catalogue import HISTORY_SUFFIX, Catalogue, comment_statements

SERVING_FILE = "meio.duckdb"
OUTPUT_VERSION = 1
SNAPSHOTS = "snapshots"  # folder of the Parquet snapshots, one folder per publication
CURRENT = "current"  # symbolic link to the newest snapshot's folder
VIEWS_FILE = "views.sql"  # DuckDB views over current/*.parquet, for readers that keep connections
SNAPSHOTS_KEPT = 3  # a reader pinned to a snapshot has two more publications to finish
PARTS_TABLE = "published_parts"  # per table published in parts: each part's rows and checksum
RUN_DATE_PART = "published_run_date"  # the part of a history row
PART_NAME = re.compile(r"[0-9A-Za-z_-]+")  # a part is a folder name
PART_COLUMN = "__part"
EMPTY_PART = "_empty"  # the folder of an empty table's schema-only file


@dataclass(frozen=True)
class PublishedTable:
    schema: str
    name: str
    rows: int


@dataclass(frozen=True)
class _Prior:
    """What the publication being replaced holds: its run date, its snapshot folder (None when
    pruned or absent) and, per table published in parts, each part's (rows, fingerprint)."""

    run_date: dt.date
    snapshot: Path | None
    parts: dict[str, dict[str, tuple[int, int]]]


def publish(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[tuple[str, str]],
    serving_dir: Path,
    run_date: dt.date,
    history: Sequence[str] = (),
    catalogue: Catalogue | None = None,
    currency: str = "",
    parts: Mapping[str, str] | None = None,
) -> list[PublishedTable]:
    """Copy ``(schema, table)`` pairs from the warehouse behind ``con`` into the serving file.

    Every published table gets ``output_version``; ``publication`` records the run date, the
    ``currency`` of the value columns and the row count of each table, so a reader can check
    it read one complete plan. Publishing a day older than the one already published (a
    backfill) replaces that day's history slices and keeps the newer current plan. Tables and
    columns carry the ``catalogue``'s descriptions as COMMENTs (also on the views of
    ``views.sql``).

    ``parts`` maps a table to a SQL expression of the part each row belongs to (a value whose
    text is a folder name, e.g. the month of its date as YYYYMM); ``<name>_history`` tables
    are in parts by run date. Such a table is published as a folder of Parquet parts,
    ``<table>/<part>/*.parquet``, and a publication
    rewrites only the parts whose rows changed (compared by row count and a checksum of every
    row, ``published_parts``): the serving file starts as a copy of the previous one, the
    snapshot hard-links the unchanged parts of the previous snapshot. So a daily refresh
    publishes what the day changed, not the whole history again.
    """
    serving_dir = Path(serving_dir)
    serving_dir.mkdir(parents=True, exist_ok=True)
    final = serving_dir / SERVING_FILE
    staging = serving_dir / f".{SERVING_FILE}.{os.getpid()}.tmp"
    for leftover in serving_dir.glob(f".{SERVING_FILE}.*.tmp*"):  # a crashed run's copy
        leftover.unlink()
    part_of = dict(parts or {}) | {f"{name}{HISTORY_SUFFIX}": RUN_DATE_PART for name in history}
    published: list[PublishedTable] = []
    published_at = dt.datetime.now()
    snapshot = f"{run_date.isoformat()}_{published_at:%Y%m%dT%H%M%S_%f}"
    prior = _prior(con, final, serving_dir) if final.exists() else None
    if prior is not None:
        shutil.copyfile(final, staging)  # the previous plan, updated in place below
    con.execute("ATTACH ? AS serving_copy", [str(staging)])
    try:
        old_tables = _tables(con, "serving_copy")
        latest_run_date = max(run_date, prior.run_date) if prior else run_date
        # a backfill of an older day corrects its history slice; the current plan stays the newest
        keep_current = latest_run_date > run_date
        now_parts: dict[str, dict[str, tuple[int, int]]] = {}
        written: dict[str, set[str]] = {}
        for schema, name in tables:
            if keep_current and name in old_tables:
                if name in part_of:  # parts unknown (an older publication): written again
                    now_parts[name] = prior.parts.get(name) or _fingerprints(
                        con, f'serving_copy.main."{name}"', part_of[name]
                    )
                    written[name] = set() if name in prior.parts else set(now_parts[name])
            else:
                source = f'SELECT *, {OUTPUT_VERSION} AS output_version FROM "{schema}"."{name}"'
                if name in part_of:
                    now_parts[name], written[name] = _update_parts(
                        con, name, source, part_of[name], prior, old_tables, upsert=False
                    )
                else:
                    con.execute(f'CREATE OR REPLACE TABLE serving_copy.main."{name}" AS {source}')
            rows = con.execute(f'SELECT count(*) FROM serving_copy.main."{name}"').fetchone()[0]
            published.append(PublishedTable(schema, name, rows))
            crash_point(f"publish:{name}")  # the new copy half written
        schema_of = {name: schema for schema, name in tables}
        for name in history:
            target = f"{name}{HISTORY_SUFFIX}"
            current = (
                f"SELECT DATE '{run_date.isoformat()}' AS published_run_date, *, "
                f'{OUTPUT_VERSION} AS output_version FROM "{schema_of[name]}"."{name}"'
            )
            now_parts[target], written[target] = _update_parts(
                con, target, current, RUN_DATE_PART, prior, old_tables, upsert=True
            )
        names = [p.name for p in published] + [f"{n}{HISTORY_SUFFIX}" for n in history]
        for stale in old_tables - set(names):  # no longer published
            con.execute(f'DROP TABLE serving_copy.main."{stale}"')
        con.execute(
            "CREATE OR REPLACE TABLE serving_copy.main.publication AS SELECT ?::DATE AS run_date, "
            "?::TIMESTAMP AS published_at, ? AS output_version, ? AS snapshot, "
            "?::VARCHAR AS currency",
            [latest_run_date, published_at, OUTPUT_VERSION, snapshot, currency],
        )
        con.execute(
            "CREATE OR REPLACE TABLE serving_copy.main.published_tables "
            "(table_name VARCHAR, row_count BIGINT)"
        )
        con.executemany(
            "INSERT INTO serving_copy.main.published_tables VALUES (?, ?)",
            [(p.name, p.rows) for p in published],
        )
        con.execute(
            f"CREATE OR REPLACE TABLE serving_copy.main.{PARTS_TABLE} "
            "(table_name VARCHAR, part VARCHAR, row_count BIGINT, fingerprint HUGEINT)"
        )
        recorded = [
            (table, part, rows, fingerprint)
            for table, found in now_parts.items()
            for part, (rows, fingerprint) in sorted(found.items())
        ]
        if recorded:
            con.executemany(
                f"INSERT INTO serving_copy.main.{PARTS_TABLE} VALUES (?, ?, ?, ?)", recorded
            )
        names += ["publication", "published_tables", PARTS_TABLE]
        columns = _columns(con, "serving_copy", names)
        if catalogue is not None:
            for name in names:
                relation = f'serving_copy.main."{name}"'
                for statement in comment_statements(catalogue, relation, name, columns[name]):
                    con.execute(statement)
        in_parts = {name: part_of[name] for name in names if name in part_of}
        folder = _write_snapshot(
            con, serving_dir, snapshot, names, in_parts, now_parts, written, prior
        )
    except Exception:
        # a failed copy (a full disk among the causes) leaves nothing behind: the copy, its
        # write-ahead log and a half-written snapshot
        with contextlib.suppress(duckdb.Error):
            con.execute("DETACH serving_copy")
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
        shutil.rmtree(serving_dir / SNAPSHOTS / f".{snapshot}.tmp", ignore_errors=True)
        raise
    con.execute("DETACH serving_copy")
    crash_point("publish:before_swap")
    with open(staging, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, final)
    _flip_current(serving_dir, folder)
    _fsync_directory(serving_dir)
    _write_views(serving_dir, columns, catalogue, set(in_parts))
    _prune_snapshots(serving_dir, keep=SNAPSHOTS_KEPT)
    return published


def _prior(con: duckdb.DuckDBPyConnection, final: Path, serving_dir: Path) -> _Prior | None:
    """The publication in ``final`` (None when it has none); its parts are unknown (every
    table in parts is then rebuilt once) when it was written before publications recorded
    them."""
    con.execute("ATTACH ? AS serving_previous (READ_ONLY)", [str(final)])
    try:
        tables = _tables(con, "serving_previous")
        if "publication" not in tables:
            return None
        run_date, snapshot = con.execute(
            "SELECT run_date, snapshot FROM serving_previous.main.publication"
        ).fetchone()
        found: dict[str, dict[str, tuple[int, int]]] = {}
        if PARTS_TABLE in tables:
            for table, part, rows, fingerprint in con.execute(
                "SELECT table_name, part, row_count, fingerprint "
                f"FROM serving_previous.main.{PARTS_TABLE}"
            ).fetchall():
                found.setdefault(table, {})[part] = (rows, fingerprint)
    finally:
        con.execute("DETACH serving_previous")
    folder = serving_dir / SNAPSHOTS / snapshot
    return _Prior(run_date, folder if folder.is_dir() else None, found)


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    """Names of the tables of the attached ``database``."""
    found = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [database]
    ).fetchall()
    return {r[0] for r in found}


def _fingerprints(
    con: duckdb.DuckDBPyConnection, relation: str, part: str
) -> dict[str, tuple[int, int]]:
    """Per part of ``relation`` (a query or table): its rows and the sum of its rows' hashes."""
    found = con.execute(
        f"SELECT part::VARCHAR, rows, total FROM (SELECT ({part}) AS part, count(*) AS rows, "
        f"sum(hash(*COLUMNS(*))::HUGEINT) AS total FROM ({relation}) GROUP BY ALL)"
    ).fetchall()
    for name, _, _ in found:
        if not PART_NAME.fullmatch(name or ""):
            raise ValueError(
                f"{relation}: part {name!r} is not a folder name ({PART_NAME.pattern})"
            )
    return {name: (rows, int(total)) for name, rows, total in found}


def _same_columns(con: duckdb.DuckDBPyConnection, table: str, source: str) -> bool:
    ours = con.execute(f'DESCRIBE serving_copy.main."{table}"').fetchall()
    theirs = con.execute(f"DESCRIBE {source}").fetchall()
    return [r[:2] for r in ours] == [r[:2] for r in theirs]


def _update_parts(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: str,
    part: str,
    prior: _Prior | None,
    old_tables: set[str],
    upsert: bool,
) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """Bring table ``name`` of the serving copy to ``source`` part by part: the parts whose
    rows or checksum differ are deleted and inserted again (``upsert``: ``source`` holds some
    parts, the others stay; else it holds them all). Returns every part's (rows, fingerprint)
    and the parts written; a table that cannot be updated (new, columns changed) is rebuilt
    and all its parts count as written."""
    relation = f'serving_copy.main."{name}"'
    old = prior.parts.get(name) if prior is not None else None
    if name in old_tables and old is not None and _same_columns(con, name, source):
        fresh = _fingerprints(con, source, part)
        target = {**old, **fresh} if upsert else fresh
        changed = sorted(p for p in set(old) | set(fresh) if old.get(p) != target.get(p))
        if changed:
            inside = f"list_contains(?, ({part})::VARCHAR)"
            con.execute(f"DELETE FROM {relation} WHERE {inside}", [changed])
            con.execute(
                f"INSERT INTO {relation} SELECT * FROM ({source}) WHERE {inside}", [changed]
            )
        return target, {p for p in changed if p in target}
    if name not in old_tables or not upsert:
        con.execute(f"CREATE OR REPLACE TABLE {relation} AS {source}")
    else:  # a history whose columns changed: the new slice's columns first, older ones kept
        con.execute(
            f"CREATE OR REPLACE TABLE serving_copy.main.rebuilt AS {source} UNION ALL BY NAME "
            f"SELECT * FROM {relation} WHERE ({part}) NOT IN (SELECT ({part}) FROM ({source}))"
        )
        con.execute(f"DROP TABLE {relation}")
        con.execute(f'ALTER TABLE serving_copy.main.rebuilt RENAME TO "{name}"')
    everything = _fingerprints(con, relation, part)
    return everything, set(everything)


def _write_snapshot(
    con: duckdb.DuckDBPyConnection,
    serving_dir: Path,
    snapshot: str,
    names: list[str],
    in_parts: Mapping[str, str],
    now_parts: Mapping[str, dict[str, tuple[int, int]]],
    written: Mapping[str, set[str]],
    prior: _Prior | None,
) -> Path:
    """Each table of the new copy as ``snapshots/<snapshot>/<name>.parquet``, or for a table in
    parts ``<name>/<part>/*.parquet`` (unchanged parts hard-linked from the previous snapshot),
    written in a hidden folder and renamed into place: a snapshot folder is complete or absent."""
    root = serving_dir / SNAPSHOTS
    root.mkdir(exist_ok=True)
    for leftover in root.glob(".*.tmp"):  # a crashed run's half-written snapshot
        shutil.rmtree(leftover, ignore_errors=True)
    writing = root / f".{snapshot}.tmp"
    writing.mkdir()
    for name in names:
        relation = f'serving_copy.main."{name}"'
        if name not in in_parts:
            con.execute(
                f"COPY {relation} TO ? (FORMAT parquet)", [str(writing / f"{name}.parquet")]
            )
            continue
        folder = writing / name
        folder.mkdir()
        earlier = prior.snapshot / name if prior is not None and prior.snapshot else None
        to_write = []
        for part in sorted(now_parts[name]):
            kept = earlier / part if earlier is not None else None
            if part not in written[name] and kept is not None and kept.is_dir():
                (folder / part).mkdir()
                for file in kept.iterdir():
                    os.link(file, folder / part / file.name)
            else:
                to_write.append(part)
        if to_write:
            every = len(to_write) == len(now_parts[name])
            _write_parts(con, relation, in_parts[name], None if every else to_write, folder)
        if not now_parts[name]:  # an empty table still tells its columns
            (folder / EMPTY_PART).mkdir()
            con.execute(
                f"COPY (FROM {relation} LIMIT 0) TO ? (FORMAT parquet)",
                [str(folder / EMPTY_PART / "data_0.parquet")],
            )
    crash_point("publish:parquet")  # the snapshot written, not yet in place
    final = root / snapshot
    os.replace(writing, final)
    return final


def _write_parts(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    part: str,
    to_write: list[str] | None,
    folder: Path,
) -> None:
    """``to_write``'s parts of ``relation`` (None: all) as ``folder/<part>/*.parquet``, in one
    pass."""
    scratch = folder / ".parts"
    where = "" if to_write is None else f"WHERE list_contains(?, ({part})::VARCHAR)"
    # rows held per part before a write: DuckDB's default (524,288) measured 20% slower here
    con.execute("SET partitioned_write_flush_threshold = 200000")
    try:
        con.execute(
            f"COPY (SELECT *, ({part}) AS {PART_COLUMN} FROM {relation} {where}) TO ? "
            f"(FORMAT parquet, PARTITION_BY ({PART_COLUMN}))",
            ([] if to_write is None else [to_write]) + [str(scratch)],
        )
    finally:
        con.execute("RESET partitioned_write_flush_threshold")
    for written in scratch.iterdir():  # <column>=<part>, the part's files without the column
        os.replace(written, folder / written.name.split("=", 1)[1])
    scratch.rmdir()


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
    serving_dir: Path,
    columns: dict[str, list[str]],
    catalogue: Catalogue | None,
    in_parts: set[str],
) -> None:
    """``views.sql``: one view per table over ``current/<table>.parquet`` (``in_parts``:
    ``current/<table>/*/*.parquet``; absolute paths), with the catalogue's COMMENTs, for a
    DuckDB reader to run once on a connection it keeps."""
    current = (serving_dir / CURRENT).absolute()
    lines = []
    for name, names in columns.items():
        files = (
            current / name / "*" / "*.parquet" if name in in_parts else current / f"{name}.parquet"
        )
        lines.append(f"CREATE OR REPLACE VIEW \"{name}\" AS FROM read_parquet('{files}');")
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
