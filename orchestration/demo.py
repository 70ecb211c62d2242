"""Main job on the embedded demo data: write the demo landing folder (if absent), run the whole
graph over its days as one single-run backfill, and print what was built."""

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import dagster as dg
import duckdb

from extracts.demo import DemoConfig, write_landing
from extracts.ingest import landing_days
from orchestration.settings import PROJECT_ROOT, landing_path, serving_path, warehouse_path
from serving.publish import SERVING_FILE
from serving.report import REPORT_FILE

SUMMARY_FILE = "demo_summary.json"  # the run's figures, beside the published copy


def ensure_dagster_home() -> Path:
    """A persistent DAGSTER_HOME (default .dagster_home) with telemetry off."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return home


def run_range(
    first: str,
    last: str,
    instance: dg.DagsterInstance | None = None,
    scenarios: list[dict] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize every asset for partitions first..last in one run (single-run backfill),
    with the what-if scenarios of config/scenarios.yaml and ``scenarios`` (run configuration)."""
    from orchestration.definitions import defs

    job = defs.resolve_job_def("daily_refresh")
    tags = {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }
    run_config = {
        # INFO: each step's own lines (saving, service, scenarios) as it finishes
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
        "ops": {"scenario__scenario_plans": {"config": {"scenarios": scenarios or []}}},
    }
    return job.execute_in_process(
        instance=instance, tags=tags, run_config=run_config, raise_on_error=False
    )


def headline(warehouse: Path) -> dict:
    """The run's figures as data (what ``summary`` prints and the demo writes as JSON): rows
    per table, the plan's safety stock value against the single-echelon baseline, simulated
    and held-out service per class, scenarios, the forecast's back-test scores."""
    out: dict = {"tables": {}}
    con = duckdb.connect(str(warehouse), read_only=True)

    def records(sql: str) -> list[dict]:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    try:
        rows = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'marts', 'forecast', 'optimization', 'simulation', 'scenario') "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in rows:
            count = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
            out["tables"][f"{schema}.{table}"] = count
        if ("optimization", "inventory_targets") in rows:
            meio, base = con.execute(
                "SELECT sum(safety_stock_value), sum(baseline_safety_stock_value) "
                "FROM optimization.inventory_targets"
            ).fetchone()
            out["safety_stock_value"] = {
                "meio": meio,
                "single_echelon": base,
                "saving": 1 - meio / base if base else 0.0,
            }
        if ("simulation", "service_calibration") in rows:
            out["simulated_service"] = records(
                "SELECT policy, demand_class, demand_model, service_level, "
                "achieved_cycle_service, achieved_cycle_service_ci95, achieved_fill_rate, nodes "
                "FROM simulation.service_calibration "
                "ORDER BY policy, demand_class <> 'all', demand_class, service_level"
            )
        if ("simulation", "holdout_calibration") in rows:
            out["held_out_service"] = records(
                "SELECT plan_date::VARCHAR AS plan_date, days, demand_class, service_level, "
                "achieved_cycle_service, achieved_cycle_service_ci95, achieved_fill_rate, nodes "
                "FROM simulation.holdout_calibration "
                "ORDER BY demand_class <> 'all', demand_class, service_level"
            )
        if ("scenario", "scenario_summary") in rows:
            out["scenarios"] = records(
                "SELECT scenario, meio_safety_stock_value, delta_meio_safety_stock_value "
                "FROM scenario.scenario_summary"
            )
        if ("forecast", "forecast_accuracy") in rows:
            pinball, cover = con.execute(
                "SELECT avg(scaled_pinball), avg(coverage_95) FROM forecast.forecast_accuracy"
            ).fetchone()
            if pinball is not None:
                out["forecast_backtest"] = {
                    "pinball_13_levels_over_mean_demand": pinball,
                    "coverage_95": cover,
                }
    finally:
        con.close()
    return out


def summary(warehouse: Path, serving: Path) -> str:
    """What the run built, in sections: tables, the plan, simulated and held-out service,
    scenarios, the forecast's back-test, and where BI and planners find the outputs."""
    figures = headline(warehouse)
    lines = [f"\n{'table':<44} {'rows':>12}"]
    lines += [f"{name:<44} {count:>12,}" for name, count in figures["tables"].items()]
    if "safety_stock_value" in figures:
        value = figures["safety_stock_value"]
        lines.append("\nplan: network safety stock value at the same service targets")
        lines.append(f"  MEIO (GSM)      {value['meio']:>14,.0f}")
        lines.append(
            f"  single-echelon  {value['single_echelon']:>14,.0f}   "
            f"(MEIO {value['saving']:.1%} lower)"
        )
    if "simulated_service" in figures:
        lines.append(
            "\nsimulated cycle service: replenishment cycles without a short, the policy as "
            "published (simulation.service_calibration)"
        )
        lines.append(
            f"  {'policy':<14} {'class':<12} {'demand':<9} {'target':>7} {'achieved':>9} "
            f"{'+-95%':>6} {'fill rate':>9}"
        )
        for r in figures["simulated_service"]:
            lines.append(
                f"  {r['policy']:<14} {r['demand_class']:<12} {r['demand_model']:<9} "
                f"{r['service_level']:>7.1%} {r['achieved_cycle_service']:>9.2%} "
                f"{r['achieved_cycle_service_ci95']:>6.2%} {r['achieved_fill_rate']:>9.2%}"
            )
    held_out = figures.get("held_out_service") or []
    if held_out:
        lines.append(
            f"\nheld-out replay: the plan of {held_out[0]['plan_date']} on the "
            f"{held_out[0]['days']} days of demand it never saw"
        )
        lines.append(f"  {'class':<12} {'target':>7} {'achieved':>9} {'+-95%':>6} {'fill rate':>9}")
        for r in held_out:
            lines.append(
                f"  {r['demand_class']:<12} {r['service_level']:>7.1%} "
                f"{r['achieved_cycle_service']:>9.2%} {r['achieved_cycle_service_ci95']:>6.2%} "
                f"{r['achieved_fill_rate']:>9.2%}"
            )
    if "scenarios" in figures:
        lines.append(f"\n{'scenario':<28} {'safety stock value':>18} {'vs base':>12}")
        for r in figures["scenarios"]:
            lines.append(
                f"{r['scenario']:<28} {r['meio_safety_stock_value']:>18,.0f} "
                f"{r['delta_meio_safety_stock_value']:>+12,.0f}"
            )
    if "forecast_backtest" in figures:
        scores = figures["forecast_backtest"]
        lines.append(
            "\nforecast back-test: 13-level pinball / mean demand "
            f"{scores['pinball_13_levels_over_mean_demand']:.3f}, "
            f"95% interval coverage {scores['coverage_95']:.1%}"
        )
    lines.append("\noutputs")
    lines.append(
        f"  Parquet for BI         {serving / 'current'}/<table>.parquet "
        "(daily marts and _history: <table>/*/*.parquet)"
    )
    lines.append(f"  views for DuckDB       {serving / 'views.sql'}")
    lines.append(f"  published copy for BI  {serving / SERVING_FILE}")
    lines.append(f"  planner report         {serving / REPORT_FILE}")
    lines.append(f"  figures as JSON        {serving / SUMMARY_FILE}")
    return "\n".join(lines)


def step_times(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds per step of the run, longest first."""
    took = {
        stats.step_key: round(stats.end_time - stats.start_time, 1)
        for stats in instance.get_run_step_stats(run_id)
        if stats.start_time and stats.end_time
    }
    return dict(sorted(took.items(), key=lambda item: -item[1]))


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> str:
    """Seconds per step of the run, longest first (steps of a second or more)."""
    took = step_times(instance, run_id)
    lines = [f"\n{'step':<60} {'seconds':>8}"]
    for step, seconds in sorted(took.items(), key=lambda item: -item[1]):
        if seconds >= 1:
            lines.append(f"{step:<60} {seconds:>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--regenerate", action="store_true", help="rewrite the demo landing folder")
    args = parser.parse_args(argv)
    ensure_dagster_home()
    landing = landing_path()
    started = time.perf_counter()
    if args.regenerate or not landing_days(landing):
        days = write_landing(landing, DemoConfig())
        print(
            f"demo extracts written: {len(days)} days under {landing} ({time.perf_counter() - started:.1f} s)"
        )
    days = landing_days(landing)
    first, last = days[0].isoformat(), days[-1].isoformat()
    print(f"running daily_refresh over {first} .. {last} ...")
    instance = dg.DagsterInstance.get()
    result = run_range(first, last, instance=instance)
    elapsed = time.perf_counter() - started
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    passed = sum(1 for e in checks if e.event_specific_data.passed)
    failed_steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    figures = headline(warehouse_path()) | {
        "run_seconds": round(elapsed, 1),
        "run_succeeded": result.success,
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "step_seconds": step_times(instance, result.run_id),
    }
    serving_path().mkdir(parents=True, exist_ok=True)
    (serving_path() / SUMMARY_FILE).write_text(json.dumps(figures, indent=1, default=str))
    print(summary(warehouse_path(), serving_path()))
    print(step_seconds(instance, result.run_id))
    print(f"asset checks: {passed} passed, {len(checks) - passed} failed")
    print(f"run {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f} s")
    for step in failed_steps:
        print(f"  failed step: {step}")
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
