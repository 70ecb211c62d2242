"""A BI-like reader: opens the serving file read-only in a loop and checks every read is one
complete plan (row counts match what ``published_tables`` says for that run). Prints a JSON
summary when the stop file appears."""

import json
import sys
import time
from pathlib import Path

import duckdb

path, stop = Path(sys.argv[1]), Path(sys.argv[2])
reads = lock_errors = partial_reads = other_errors = 0
run_dates = set()
deadline = time.monotonic() + 120
while not stop.exists() and time.monotonic() < deadline:
    if not path.exists():
        time.sleep(0.005)
        continue
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            run_date = con.execute("SELECT run_date FROM publication").fetchone()[0]
            expected = dict(
                con.execute("SELECT table_name, row_count FROM published_tables").fetchall()
            )
            for table, rows in expected.items():
                if con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] != rows:
                    partial_reads += 1
            marker = con.execute("SELECT DISTINCT run_date FROM plan").fetchall()
            if marker != [(run_date,)]:
                partial_reads += 1
        finally:
            con.close()
        reads += 1
        run_dates.add(str(run_date))
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            lock_errors += 1
        else:
            other_errors += 1
    except duckdb.Error:
        other_errors += 1
print(
    json.dumps(
        {
            "reads": reads,
            "lock_errors": lock_errors,
            "partial_reads": partial_reads,
            "other_errors": other_errors,
            "run_dates": sorted(run_dates),
        }
    )
)
