"""Publication: BI readers never block and never see half a refresh; history per run date."""

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from serving.publish import SERVING_FILE, publish


def _warehouse(path: Path, run_date: dt.date, rows: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute(
        "CREATE OR REPLACE TABLE marts.plan AS SELECT range AS node, ?::DATE AS run_date, random() AS target "
        "FROM range(?)",
        [run_date, rows],
    )
    con.execute(
        "CREATE OR REPLACE TABLE marts.other AS SELECT range AS id FROM range(?)", [rows * 3]
    )
    con.close()


def test_reader_never_blocks_nor_sees_half_a_refresh(tmp_path):
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving"
    start = dt.date(2026, 1, 1)
    _warehouse(warehouse, start, 1000)
    con = duckdb.connect(str(warehouse))
    publish(con, [("marts", "plan"), ("marts", "other")], serving, start, history=["plan"])
    con.close()
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("serving_reader.py")),
            str(serving / SERVING_FILE),
            str(stop),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    refreshes = 12
    for k in range(1, refreshes + 1):
        day = start + dt.timedelta(days=k)
        _warehouse(warehouse, day, 1000 + 5000 * (k % 3))
        con = duckdb.connect(str(warehouse))
        publish(con, [("marts", "plan"), ("marts", "other")], serving, day, history=["plan"])
        con.close()
        time.sleep(0.05)
    stop.touch()
    summary = json.loads(reader.communicate(timeout=60)[0])
    assert summary["lock_errors"] == 0
    assert summary["partial_reads"] == 0
    assert summary["other_errors"] == 0
    assert summary["reads"] >= refreshes
    assert len(summary["run_dates"]) >= 3  # it saw several complete plans go by
    served = duckdb.connect(str(serving / SERVING_FILE), read_only=True)
    history = served.execute(
        "SELECT count(DISTINCT published_run_date) FROM plan_history"
    ).fetchone()[0]
    version = served.execute("SELECT DISTINCT output_version FROM plan").fetchall()
    served.close()
    assert history == refreshes + 1
    assert version == [(1,)]


def test_rerun_of_a_date_replaces_its_history_slice(tmp_path):
    warehouse, serving = tmp_path / "w.duckdb", tmp_path / "s"
    day = dt.date(2026, 2, 1)
    for rows in (10, 20, 30):
        _warehouse(warehouse, day, rows)
        con = duckdb.connect(str(warehouse))
        publish(con, [("marts", "plan")], serving, day, history=["plan"])
        con.close()
    served = duckdb.connect(str(serving / SERVING_FILE), read_only=True)
    assert served.execute("SELECT count(*) FROM plan_history").fetchone()[0] == 30
    served.close()
    assert not list(serving.glob(".*.tmp"))


def test_a_reader_that_never_reconnects_sees_each_new_plan_through_the_parquet_views(tmp_path):
    """A long-lived connection to meio.duckdb keeps reading the old file after the swap (one
    DuckDB instance per path and process); through views.sql it sees every publication."""
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving"
    start = dt.date(2026, 1, 1)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("parquet_reader.py")), str(serving), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    published = {}
    for k in range(6):  # the first plan, then 5 publications while the reader polls
        day = start + dt.timedelta(days=k)
        _warehouse(warehouse, day, 1000 + 3000 * (k % 3))
        con = duckdb.connect(str(warehouse))
        publish(con, [("marts", "plan"), ("marts", "other")], serving, day, history=["plan"])
        con.close()
        served = duckdb.connect()
        snapshot = served.execute(
            "SELECT snapshot FROM read_parquet(?)", [str(serving / "current" / "publication.parquet")]
        ).fetchone()[0]  # fmt: skip
        served.close()
        published[snapshot] = time.time()
        time.sleep(1.0)
    stop.touch()
    summary = json.loads(reader.communicate(timeout=60)[0])
    assert summary["errors"] == 0 and summary["pinned_mismatches"] == 0
    seen = summary["first_seen"]
    later = list(published)[1:]
    assert set(later) <= set(seen), (published, seen)
    # each new plan seen on the reader's next poll or so (50 ms polls; bound 0.5 s)
    assert max(seen[s] - published[s] for s in later) < 0.5
    snapshots = sorted(p.name for p in (serving / "snapshots").iterdir())
    assert len(snapshots) == 3  # SNAPSHOTS_KEPT
    current = (serving / "current").resolve().name
    assert current == list(published)[-1] and current in snapshots
    # the DuckDB file agrees with the Parquet current snapshot
    served = duckdb.connect(str(serving / SERVING_FILE), read_only=True)
    assert served.execute("SELECT snapshot FROM publication").fetchone()[0] == current
    served.close()


def test_a_serving_folder_copied_without_links_still_publishes(tmp_path):
    warehouse, serving = tmp_path / "w.duckdb", tmp_path / "s"
    day = dt.date(2026, 2, 1)
    _warehouse(warehouse, day, 10)
    con = duckdb.connect(str(warehouse))
    publish(con, [("marts", "plan")], serving, day)
    copy = tmp_path / "copy"
    shutil.copytree(serving, copy)  # a backup tool's copy: current is now a real folder
    assert (copy / "current").is_dir() and not (copy / "current").is_symlink()
    publish(con, [("marts", "plan")], copy, day + dt.timedelta(days=1))
    con.close()
    assert (copy / "current").is_symlink()
    reader = duckdb.connect()
    run_date = reader.execute(
        "SELECT run_date FROM read_parquet(?)", [str(copy / "current" / "publication.parquet")]
    ).fetchone()[0]
    reader.close()
    assert run_date == day + dt.timedelta(days=1)


def test_a_failed_publication_leaves_no_temporary_file_and_the_last_plan(tmp_path, monkeypatch):
    import serving.publish as publication

    warehouse, serving = tmp_path / "w.duckdb", tmp_path / "s"
    day = dt.date(2026, 2, 1)
    _warehouse(warehouse, day, 10)
    con = duckdb.connect(str(warehouse))
    publish(con, [("marts", "plan")], serving, day, history=["plan"])
    before = (serving / SERVING_FILE).read_bytes()

    def disk_full(con, serving_dir, snapshot, *tables):
        (serving_dir / "snapshots" / f".{snapshot}.tmp").mkdir(parents=True)  # half written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publication, "_write_snapshot", disk_full)
    with pytest.raises(OSError, match="No space left"):
        publish(con, [("marts", "plan")], serving, day + dt.timedelta(days=1), history=["plan"])
    con.close()
    assert (serving / SERVING_FILE).read_bytes() == before
    assert not [p.name for p in serving.rglob(".*tmp*")]


def _daily(path: Path, months: list[int], changed: float = 1.0) -> None:
    """marts.daily: 4 nodes x every day of the given months of 2026 (qty 1, node 0's days of
    February ``changed``) and marts.plan."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute(
        "CREATE OR REPLACE TABLE marts.daily AS SELECT d::DATE AS day, node, "
        "CASE WHEN node = 0 AND month(d) = 2 THEN ? ELSE 1.0 END AS qty "
        "FROM range(DATE '2026-01-01', DATE '2026-05-01', INTERVAL 1 DAY) AS t(d), range(4) AS n(node) "
        "WHERE list_contains(?, month(d))",
        [changed, months],
    )
    con.execute(
        "CREATE OR REPLACE TABLE marts.plan AS SELECT range AS node FROM range(?)", [len(months)]
    )
    con.close()


def _served(serving: Path, table: str) -> tuple[list, list]:
    """``table`` as the DuckDB file and as the current Parquet snapshot hold it, sorted."""
    con = duckdb.connect(str(serving / SERVING_FILE), read_only=True)
    stored = con.execute(f"FROM {table} ORDER BY ALL").fetchall()
    con.close()
    files = serving / "current" / table
    pattern = files / "*" / "*.parquet" if files.is_dir() else f"{files}.parquet"
    reader = duckdb.connect()
    parquet = reader.execute("FROM read_parquet(?) ORDER BY ALL", [str(pattern)]).fetchall()
    reader.close()
    return stored, parquet


def test_a_refresh_rewrites_only_the_parts_that_changed_and_equals_a_fresh_publication(tmp_path):
    warehouse, serving, fresh = tmp_path / "w.duckdb", tmp_path / "s", tmp_path / "fresh"
    tables, parts = [("marts", "daily"), ("marts", "plan")], {"daily": "strftime(day, '%Y-%m')"}
    first, second = dt.date(2026, 5, 1), dt.date(2026, 5, 2)
    _daily(warehouse, [1, 2, 3])
    con = duckdb.connect(str(warehouse))
    publish(con, tables, serving, first, ["plan"], parts=parts)
    before = (serving / "current").resolve()
    con.close()
    # January re-sent empty, a February cell corrected, March as it was, April new
    _daily(warehouse, [2, 3, 4], changed=5.0)
    con = duckdb.connect(str(warehouse))
    publish(con, tables, serving, second, ["plan"], parts=parts)
    publish(con, tables, fresh, second, ["plan"], parts=parts)
    con.close()

    after = (serving / "current").resolve()
    assert sorted(p.name for p in (after / "daily").iterdir()) == ["2026-02", "2026-03", "2026-04"]
    reused = [p.name for p in (after / "daily").rglob("*.parquet") if p.stat().st_nlink > 1]
    march = next((before / "daily" / "2026-03").iterdir())
    assert (after / "daily" / "2026-03" / march.name).stat().st_ino == march.stat().st_ino
    assert (after / "daily" / "2026-02" / "data_0.parquet").stat().st_nlink == 1  # written anew
    assert len(reused) == 1
    for table in ("daily", "plan"):
        stored, parquet = _served(serving, table)
        assert stored == parquet == _served(fresh, table)[0]
    assert _served(serving, "daily")[0].count((dt.date(2026, 2, 1), 0, 5.0, 1)) == 1
    con = duckdb.connect(str(serving / SERVING_FILE), read_only=True)
    recorded = con.execute(
        "FROM published_parts WHERE table_name = 'daily' ORDER BY part"
    ).fetchall()
    counts = dict(con.execute("FROM published_tables").fetchall())
    assert counts["daily"] == con.execute("SELECT count(*) FROM daily").fetchone()[0]
    con.close()
    con = duckdb.connect(str(fresh / SERVING_FILE), read_only=True)
    assert (
        recorded
        == con.execute("FROM published_parts WHERE table_name = 'daily' ORDER BY part").fetchall()
    )
    con.close()
    stored, parquet = _served(serving, "plan_history")
    assert stored == parquet and {row[0] for row in stored} == {first, second}
    reader = duckdb.connect()  # views.sql reads the folders of parts
    reader.execute((serving / "views.sql").read_text())
    assert reader.execute("FROM daily ORDER BY ALL").fetchall() == _served(fresh, "daily")[0]
    assert reader.execute("SELECT count(*) FROM plan_history").fetchone()[0] == len(stored)
    reader.close()

    # a backfill of an older day keeps the current daily mart and adds its history slice
    _daily(warehouse, [1])
    con = duckdb.connect(str(warehouse))
    publish(con, tables, serving, dt.date(2026, 4, 30), ["plan"], parts=parts)
    con.close()
    assert _served(serving, "daily")[0] == _served(fresh, "daily")[0]
    stored, parquet = _served(serving, "plan_history")
    assert stored == parquet and len({row[0] for row in stored}) == 3


def test_a_part_that_is_not_a_folder_name_fails_before_anything_is_swapped(tmp_path):
    warehouse, serving = tmp_path / "w.duckdb", tmp_path / "s"
    _daily(warehouse, [1])
    con = duckdb.connect(str(warehouse))
    with pytest.raises(ValueError, match=r"part 'S/1' is not a folder name"):
        publish(con, [("marts", "daily")], serving, dt.date(2026, 5, 1), parts={"daily": "'S/1'"})
    con.close()
    assert not (serving / SERVING_FILE).exists()
    assert not [p.name for p in serving.rglob(".*tmp*")]
