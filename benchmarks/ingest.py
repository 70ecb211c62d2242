"""Ingest of one landing day against DuckDB's own CSV reader, same files, same run.

Loads every extract of the day with the pipeline's ingest (DuckDB reader into raw, SQL checks, one
transaction per extract) into a fresh warehouse, then the same files with a bare
`CREATE TABLE AS SELECT * FROM read_csv(..., all_varchar)` into another; prints rows, seconds,
rows per second, the ratio and the peak RSS of the process, and writes a JSON.

Usage: python benchmarks/ingest.py LANDING_DAY_FOLDER [--out benchmarks/results/ingest_scale.json]
(e.g. the day written by `meio-demo-data --stores 50 --dcs 5 --items 2000 --drop-days 1`).
"""

import argparse
import datetime as dt
import json
import resource
import tempfile
import time
from pathlib import Path

import duckdb
from provenance import write_results

from extracts.contract import EXTRACTS
from extracts.ingest import ingest_extract
from orchestration.settings import duckdb_memory_limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("day_folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ingest_scale.json"))
    args = parser.parse_args()
    day = dt.date.fromisoformat(args.day_folder.name)
    scratch = Path(tempfile.mkdtemp(prefix="meio-ingest-"))
    con = duckdb.connect(
        str(scratch / "pipeline.duckdb"), config={"memory_limit": duckdb_memory_limit()}
    )
    per_extract = {}
    started = time.perf_counter()
    for name in EXTRACTS:
        t0 = time.perf_counter()
        rows = ingest_extract(con, args.day_folder.parent, day, name).rows
        per_extract[name] = {"rows": rows, "seconds": round(time.perf_counter() - t0, 1)}
        print(name, per_extract[name], flush=True)
    pipeline = time.perf_counter() - started
    con.close()
    rss_pipeline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    bare = duckdb.connect(str(scratch / "bare.duckdb"))
    started = time.perf_counter()
    for name in EXTRACTS:
        bare.execute(
            f'CREATE TABLE "{name}" AS SELECT * FROM read_csv(?, header = true, all_varchar = true)',
            [str(args.day_folder / f"{name}.csv")],
        )
    bare_seconds = time.perf_counter() - started
    bare.close()
    rows = sum(v["rows"] for v in per_extract.values())
    figures = {
        "day_folder": str(args.day_folder),
        "csv_mb": round(sum(p.stat().st_size for p in args.day_folder.glob("*.csv")) / 2**20),
        "rows": rows,
        "pipeline_seconds": round(pipeline, 1),
        "pipeline_rows_per_second": round(rows / pipeline),
        "bare_duckdb_seconds": round(bare_seconds, 1),
        "bare_rows_per_second": round(rows / bare_seconds),
        "ratio_pipeline_to_bare": round(pipeline / bare_seconds, 2),
        "peak_rss_gib_after_pipeline_ingest": round(rss_pipeline, 2),
        "per_extract": per_extract,
    }
    print(json.dumps(figures, indent=1))
    write_results(args.out, figures)
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()


if __name__ == "__main__":
    main()
