"""Full refresh at scale: 1 plant, 5 DCs, 50 stores, 2,000 items, 2 years of daily history.

Generates the extracts in a scratch folder, runs the `daily_refresh` job over the one landing
day in this process (as the demo does: the full refresh), then writes one more extract day of
one day's size (``dbt_incremental.write_next_day``) and runs the refresh of that day (the
next morning's: incremental dbt, the week's forecast selection reused). Prints and writes
(JSON; top level ``full_refresh_seconds``, ``daily_refresh_seconds``, ``peak_pss_gib`` of the
daily refresh) per-step and per-stage seconds of both, the whole refresh, peak memory of the refresh (RSS of this process plus its children, e.g. dbt,
sampled together every 0.2 s, and the peak within each step; also their PSS, see
``_MemorySampler``, every 2 s; the extracts are written by a
separate process so their generation does not count), ingest rows per
second against DuckDB's own read_csv of the same files in the same run, and the forecast
stage against the time spent inside its statsforecast calls (cross-validation and forecast,
the same series and models) in the same run: the overhead of classing, selection, calibration,
quantiles and lead-time demand around the bare library.

``machine_probe_seconds``: three fixed workloads timed before and after the refreshes, to
compare runs made at hours of different machine speed.

Usage: python benchmarks/scale.py [--stores 50 --dcs 5 --items 2000 --days 730]
       [--work /tmp/meio-scale] [--out benchmarks/results/scale.json] [--extracts LANDING]
"""

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from dbt_incremental import write_next_day
from provenance import write_results


class _MemorySampler(threading.Thread):
    """RSS of this process and of all its descendants, sampled every ``interval`` seconds, and
    their PSS (proportional set size: a page shared by n processes counts 1/n in each). Forked
    workers (statsforecast's) share most of their pages with this process, so the sum of RSS
    counts those pages again per worker; the sum of PSS is the memory the machine needs."""

    def __init__(self, interval: float = 0.2, pss_every: int = 10) -> None:
        super().__init__(daemon=True)
        self.interval, self.samples, self.running = interval, [], True
        self.pss_every = pss_every  # PSS walks every page table: sampled less often (2 s)
        self.process = psutil.Process()

    def run(self) -> None:
        count, proportional = 0, 0.0
        while self.running:
            with_pss = count % self.pss_every == 0
            count += 1
            processes = [self.process, *self.process.children(recursive=True)]
            rss, pss = [], []
            for process in processes:
                try:
                    memory = process.memory_full_info() if with_pss else process.memory_info()
                except psutil.Error:
                    continue
                rss.append(memory.rss)
                pss.append(memory.pss if with_pss else 0)
            if with_pss:
                proportional = sum(pss) / 2**30
            self.samples.append((time.time(), rss[0] / 2**30, sum(rss[1:]) / 2**30, proportional))
            time.sleep(self.interval)

    def stop(self) -> None:
        self.running = False
        self.join()

    def peak(self, start: float = 0.0, end: float = float("inf")) -> dict[str, float]:
        """Peak GiB between two times: RSS of this process, of its children, of both at one
        moment, and the PSS of all of them at one moment."""
        window = [s for s in self.samples if start <= s[0] <= end] or self.samples[-1:]
        return {
            "process": round(max(s[1] for s in window), 2),
            "children": round(max(s[2] for s in window), 2),
            "total": round(max(s[1] + s[2] for s in window), 2),
            "pss_total": round(max(s[3] for s in window), 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--dcs", type=int, default=5)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--work", type=Path, default=Path("/tmp/meio-scale"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    parser.add_argument(
        "--extracts",
        type=Path,
        help="landing folder already written by `python -m extracts.demo` with the same "
        "network (linked, not regenerated)",
    )
    parser.add_argument(
        "--no-next-day",
        dest="next_day",
        action="store_false",
        help="skip the next day's refresh (one more extract day after the full refresh)",
    )
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    os.environ.update(
        {
            "MEIO_LANDING": str(args.work / "landing"),
            "MEIO_WAREHOUSE": str(args.work / "warehouse.duckdb"),
            "MEIO_SERVING": str(args.work / "serving"),
            "DAGSTER_HOME": str(args.work / "dagster_home"),
            "DO_NOT_TRACK": "1",
        }
    )
    import dagster as dg
    import duckdb

    from extracts.ingest import landing_days
    from orchestration.demo import ensure_dagster_home

    ensure_dagster_home()
    # dbt's partial parse holds only while the profile (the warehouse path) is the one parsed
    # with: parse in this environment, as a deployment's setup does in its own (otherwise
    # every dbt run re-parses the project in full, ~2 s, and says the profile changed)
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--profiles-dir", ".", "--quiet"],
        cwd="transforms",
        check=True,
    )
    figures: dict = {
        "network": {"stores": args.stores, "dcs": args.dcs, "items": args.items, "days": args.days},
    }
    started = time.perf_counter()
    figures["extracts_reused_from"] = str(args.extracts) if args.extracts else None
    if args.extracts:
        shutil.copytree(args.extracts, args.work / "landing", copy_function=os.link)
    else:
        _generate(args)
    days = landing_days(args.work / "landing")
    figures["generate_seconds"] = round(time.perf_counter() - started, 1)
    landing_day = args.work / "landing" / days[-1].isoformat()
    sizes = {p.name: p.stat().st_size for p in landing_day.iterdir()}
    figures["landing_mb"] = round(sum(sizes.values()) / 2**20, 1)
    print(
        f"extracts written in {figures['generate_seconds']} s, {figures['landing_mb']} MB",
        flush=True,
    )

    figures["machine_probe_seconds"] = {"before": machine_probe()}
    timer = _StatsforecastTimer()
    sampler = _MemorySampler()
    sampler.start()
    instance = dg.DagsterInstance.get()
    full = _timed_refresh(instance, days[0], days[-1], sampler)
    figures["refresh_seconds"] = full["seconds"]
    figures["refresh_succeeded"] = full["succeeded"]
    figures["peak_rss_gib"] = full["peak_rss_gib"]
    figures["step_seconds"] = full["step_seconds"]
    figures["step_peak_rss_gib"] = full["step_peak_rss_gib"]
    figures["stage_seconds"] = full["stage_seconds"]
    forecast_inside_statsforecast = (timer.seconds, timer.calls)
    if args.next_day:
        # the next morning: one more extract day of one day's size, the daily refresh of it
        following = days[-1] + dt.timedelta(days=1)
        write_next_day(landing_day, args.work / "landing" / following.isoformat(), following)
        daily = _timed_refresh(instance, following, following, sampler)
        figures["next_day"] = {"day": following.isoformat(), **daily}
        figures["daily_refresh_seconds"] = daily["seconds"]
        figures["peak_pss_gib"] = daily["peak_rss_gib"]["pss_total"]
    figures["full_refresh_seconds"] = full["seconds"]
    sampler.stop()
    figures["machine_probe_seconds"]["after"] = machine_probe()
    print(json.dumps(figures, indent=1), flush=True)

    # ingest against DuckDB's own CSV reader, same files, same run
    con = duckdb.connect(str(args.work / "warehouse.duckdb"), read_only=True)
    raw_rows = sum(
        con.execute(f'SELECT count(*) FROM raw."{p.stem}"').fetchone()[0]
        for p in landing_day.glob("*.csv")
    )
    con.close()
    bare = duckdb.connect(str(args.work / "bare.duckdb"))
    started = time.perf_counter()
    for path in sorted(landing_day.glob("*.csv")):
        bare.execute(
            f'CREATE TABLE "{path.stem}" AS SELECT * FROM read_csv(?, header = true, all_varchar = true)',
            [str(path)],
        )
    bare_seconds = time.perf_counter() - started
    bare.close()
    ingest_seconds = figures["stage_seconds"]["ingest"]
    figures["ingest"] = {
        "rows": raw_rows,
        "pipeline_seconds": ingest_seconds,
        "pipeline_rows_per_second": round(raw_rows / ingest_seconds) if ingest_seconds else None,
        "bare_duckdb_read_csv_seconds": round(bare_seconds, 1),
        "bare_rows_per_second": round(raw_rows / bare_seconds),
        "ratio_pipeline_to_bare": round(ingest_seconds / bare_seconds, 2),
    }
    print(json.dumps(figures["ingest"], indent=1), flush=True)

    forecast_seconds = figures["stage_seconds"]["forecast"]
    figures["forecast_vs_bare_statsforecast"] = {
        "stage_seconds": forecast_seconds,
        "inside_statsforecast_seconds": round(forecast_inside_statsforecast[0], 1),
        "statsforecast_calls": forecast_inside_statsforecast[1],
        "ratio": round(forecast_seconds / forecast_inside_statsforecast[0], 2)
        if forecast_inside_statsforecast[0]
        else None,
    }
    print(json.dumps(figures["forecast_vs_bare_statsforecast"], indent=1), flush=True)
    figures["goals"] = {
        "full_refresh_under_10_min": figures["full_refresh_seconds"] <= 600,
        "daily_refresh_under_3_min": figures.get("daily_refresh_seconds", float("inf")) <= 180,
        "daily_peak_pss_under_4_gib": figures.get("peak_pss_gib", float("inf")) <= 4,
        "peak_memory_under_6_gib": figures["peak_rss_gib"]["pss_total"] < 6,
        "peak_rss_sum_under_6_gib": figures["peak_rss_gib"]["total"] < 6,
        "ingest_within_1_5x_bare_duckdb": figures["ingest"]["ratio_pipeline_to_bare"] <= 1.5,
        "forecast_within_1_2x_bare_statsforecast": figures["forecast_vs_bare_statsforecast"][
            "ratio"
        ]
        <= 1.2,
    }
    write_results(args.out, figures)
    print(json.dumps(figures["goals"], indent=1))


STAGE_OF = {
    "ingest": lambda k: k.startswith("raw__"),
    "dbt": lambda k: "dbt" in k or k.startswith("transforms"),
    "forecast": lambda k: k.startswith("forecast"),
    "optimize": lambda k: k.startswith("optimization"),
    "simulate": lambda k: k.startswith("simulation") or k.startswith("scenario"),
    "publish": lambda k: k.startswith("serving"),
}


def _timed_refresh(instance, first: dt.date, last: dt.date, sampler: _MemorySampler) -> dict:
    """Run ``daily_refresh`` over partitions first..last in this process: seconds, success,
    peak memory, and seconds and peak memory per step and per stage."""
    from orchestration.demo import run_range

    started = time.time()
    result = run_range(first.isoformat(), last.isoformat(), instance=instance)
    figures = {
        "seconds": round(time.time() - started, 1),
        "succeeded": result.success,
        "peak_rss_gib": sampler.peak(started, time.time()),
    }
    steps: dict[str, float] = {}
    step_memory: dict[str, dict[str, float]] = {}
    begun: dict[str, float] = {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            begun[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in begun:
            steps[event.step_key] = round(entry.timestamp - begun[event.step_key], 1)
            step_memory[event.step_key] = sampler.peak(begun[event.step_key], entry.timestamp)
    figures["step_seconds"] = steps
    figures["step_peak_rss_gib"] = step_memory
    figures["stage_seconds"] = {
        stage: round(sum(v for k, v in steps.items() if match(k)), 1)
        for stage, match in STAGE_OF.items()
    }
    print(json.dumps(figures, indent=1), flush=True)
    return figures


def machine_probe() -> dict[str, float]:
    """Seconds of three fixed workloads, the kinds the refresh is made of: numpy (sort 20 M
    floats), Python (a 10 M-step loop) and DuckDB (group 20 M generated rows). The machine's
    speed varies by the hour (+-20% seen between runs of the same code): a run's figures are
    compared with another's at the ratio of their probes, not as they are."""
    import duckdb
    import numpy as np

    out = {}
    started = time.perf_counter()
    np.sort(np.random.default_rng(0).random(20_000_000))
    out["numpy"] = time.perf_counter() - started
    started = time.perf_counter()
    total = 0
    for k in range(10_000_000):
        total += k & 7
    out["python"] = time.perf_counter() - started
    started = time.perf_counter()
    duckdb.connect().execute(
        "SELECT k % 100003 AS g, sum(k) FROM range(20000000) AS t(k) GROUP BY g"
    ).fetchall()
    out["duckdb"] = time.perf_counter() - started
    return {name: round(seconds, 2) for name, seconds in out.items()}


def _generate(args: argparse.Namespace) -> None:
    subprocess.run(  # its own process: the generator's memory is not the pipeline's
        [
            sys.executable,
            "-m",
            "extracts.demo",
            "--landing",
            str(args.work / "landing"),
            "--stores",
            str(args.stores),
            "--dcs",
            str(args.dcs),
            "--items",
            str(args.items),
            "--history-days",
            str(args.days),
            "--drop-days",
            "1",
        ],
        check=True,
    )


class _StatsforecastTimer:
    """Wraps the engine's one statsforecast entry point to add up the seconds spent inside it."""

    def __init__(self) -> None:
        import forecasting.running as running

        self.engine, self.inner, self.seconds, self.calls = (
            running,
            running._run_statsforecast,
            0.0,
            0,
        )
        running._run_statsforecast = self

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


if __name__ == "__main__":
    sys.exit(main())
