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

    def disk_full(con, serving_dir, snapshot, names):
        (serving_dir / "snapshots" / f".{snapshot}.tmp").mkdir(parents=True)  # half written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publication, "_write_snapshot", disk_full)
    with pytest.raises(OSError, match="No space left"):
        publish(con, [("marts", "plan")], serving, day + dt.timedelta(days=1), history=["plan"])
    con.close()
    assert (serving / SERVING_FILE).read_bytes() == before
    assert not [p.name for p in serving.rglob(".*tmp*")]
