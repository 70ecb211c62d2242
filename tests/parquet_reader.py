"""A BI server's reader: ONE DuckDB connection kept open for the whole run, the serving
folder's views.sql run once, then a poll every 50 ms. Each poll reads the current plan through
the views (publication, then the plan's row count) and, pinned to the snapshot publication
names, checks the snapshot's tables against its published_tables. Prints a JSON summary (when
each publication's snapshot was first seen, inconsistent reads) when the stop file appears."""

import json
import sys
import time
from pathlib import Path

import duckdb

serving, stop = Path(sys.argv[1]), Path(sys.argv[2])
con = duckdb.connect()  # never closed nor reopened while polling
while not (serving / "views.sql").exists():
    time.sleep(0.01)
con.execute((serving / "views.sql").read_text())
first_seen: dict[str, float] = {}
reads = pinned_mismatches = errors = 0
deadline = time.monotonic() + 120
while not stop.exists() and time.monotonic() < deadline:
    try:
        snapshot, published_at = con.execute(
            "SELECT snapshot, published_at FROM publication"
        ).fetchone()
        first_seen.setdefault(snapshot, time.time())
        pinned = serving / "snapshots" / snapshot
        expected = dict(
            con.execute(
                "SELECT table_name, row_count FROM read_parquet(?)",
                [str(pinned / "published_tables.parquet")],
            ).fetchall()
        )
        for table, rows in expected.items():
            found = con.execute(
                "SELECT count(*) FROM read_parquet(?)", [str(pinned / f"{table}.parquet")]
            ).fetchone()[0]
            pinned_mismatches += found != rows
        reads += 1
    except duckdb.Error:
        errors += 1
    time.sleep(0.05)
print(
    json.dumps(
        {
            "reads": reads,
            "first_seen": first_seen,
            "pinned_mismatches": pinned_mismatches,
            "errors": errors,
        }
    )
)
