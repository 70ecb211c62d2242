"""A next day's dbt cost at scale: incremental update against a full rebuild of the same data.

On a warehouse the scale benchmark built (`python benchmarks/scale.py`, default
/tmp/meio-scale), writes a next extract day (the masters as they were, the last day's sales
order lines, shipments and receipts again as new lines a day later: the size of one day),
loads it, then times
`dbt run` as of that day incrementally and then with --full-refresh on the same data. Prints
the seconds per model and writes benchmarks/results/dbt_incremental.json.

Usage: python benchmarks/dbt_incremental.py [--work /tmp/meio-scale] [--day-after N]
(N: days after the scale run's landing day; use a new N for each run so the day is new).
"""

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from provenance import write_results

from extracts.contract import EXTRACTS
from extracts.ingest import ingest_extract, landing_days

PROJECT = Path(__file__).resolve().parents[1] / "transforms"
DATE_OF = {"sales_orders": "order_date", "shipments": "ship_date", "receipts": "receipt_date"}
ID_OF = {"sales_orders": "order_id", "shipments": "shipment_id", "receipts": "receipt_id"}


def write_next_day(last_day: Path, folder: Path, day: dt.date) -> None:
    """A next extract day of one day's size into ``folder`` (extract day ``day``): the masters
    as ``last_day`` has them, and the sales order lines, shipments and receipts of its latest
    date again as new ones: dated a day later, their ids (and a receipt's shipment reference)
    suffixed with the day (a transfer receipt's shipment reference too), so every line is a
    new key on a new date."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    con = duckdb.connect()
    suffix = f"-{day:%Y%m%d}"
    for name in EXTRACTS:
        source = last_day / f"{name}.csv"
        if name not in DATE_OF:
            shutil.copy(source, folder)
            continue
        date = f"left(trim({DATE_OF[name]}), 10)"
        lines = f"read_csv('{source}', header = true, all_varchar = true)"
        renamed = {
            DATE_OF[name]: f"strftime(cast({date} as date) + 1, '%Y-%m-%d')",
            ID_OF[name]: f"{ID_OF[name]} || '{suffix}'",
        }
        if name == "receipts":
            renamed["reference_id"] = (  # a transfer's shipment is new too; a PO is the same
                f"CASE WHEN trim(upper(receipt_type)) = 'TRANSFER' "
                f"THEN reference_id || '{suffix}' ELSE reference_id END"
            )
        replace = ", ".join(f"{expr} AS {column}" for column, expr in renamed.items())
        con.execute(
            f"COPY (SELECT * REPLACE ({replace}) FROM {lines} "
            f"WHERE {date} = (SELECT max({date}) FROM {lines})) "
            f"TO '{folder / f'{name}.csv'}' (HEADER)"
        )
    con.close()


def dbt_run(warehouse: Path, as_of: dt.date, target: Path, *flags: str) -> dict:
    env = {
        **os.environ,
        "MEIO_WAREHOUSE": str(warehouse),
        "MEIO_AS_OF_DATE": as_of.isoformat(),
        "DO_NOT_TRACK": "1",
    }
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--profiles-dir", ".", "--quiet",
         "--target-path", str(target), *flags],
        cwd=PROJECT, env=env, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    results = json.loads((target / "run_results.json").read_text())["results"]
    models = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 1) for r in results}
    print(f"dbt run {' '.join(flags) or '(incremental)'}: {seconds:.1f} s", models, flush=True)
    return {"seconds": round(seconds, 1), "model_seconds": models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/meio-scale"))
    parser.add_argument("--day-after", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dbt_incremental.json"))
    args = parser.parse_args()
    warehouse = args.work / "warehouse.duckdb"
    day = landing_days(args.work / "landing")[-1]
    following = day + dt.timedelta(days=args.day_after)
    landing = args.work / "landing_next"
    write_next_day(
        args.work / "landing" / day.isoformat(), landing / following.isoformat(), following
    )
    con = duckdb.connect(str(warehouse))
    started = time.perf_counter()
    rows = {name: ingest_extract(con, landing, following, name).rows for name in EXTRACTS}
    con.close()
    figures = {
        "warehouse": str(warehouse),
        "new_day": following.isoformat(),
        "new_day_rows": rows,
        "ingest_seconds": round(time.perf_counter() - started, 1),
    }
    scratch = Path("/tmp/meio-dbt-incremental-target")
    figures["incremental"] = dbt_run(warehouse, following, scratch)
    figures["full_refresh"] = dbt_run(warehouse, following, scratch, "--full-refresh")
    figures["ratio_full_to_incremental"] = round(
        figures["full_refresh"]["seconds"] / figures["incremental"]["seconds"], 2
    )
    write_results(args.out, figures)


if __name__ == "__main__":
    main()
