"""Service on real demand: order-up-to levels for Hyndman's car parts, replayed on held-out months.

Data: ../shared/data/carparts, the 2,509 series with all 51 months (monthly demand, ~75% zeros).
Policy: monthly review, order-up-to level S per series, lead time L = 1 or 3 months, backorders
carried; S covers demand over L + 1 months (the protection interval) at the cycle-service
target p: P(no backorder at the end of a month) = p.

Split (written down before looking at any result):
* validation: S set from months 1-27, replayed over months 28-39;
* test: S set from months 1-39, replayed over months 40-51 (scored once per change).
Design choices are made on the validation window only. Each replay starts 12 months earlier
(a warm-up on known history with the same S, so the pipeline of open orders is real) and
measures the 12 held-out months.

Methods, all from the training months only:
* ``project``: the pipeline's own functions: back-test, model choice and forecast
  (forecasting.engine), lead-time demand with its error correlation, then ``plan_targets`` on
  a one-stage network whose lead time is the protection interval; S = its reorder point.
* ``normal``: mean + z sd of (L + 1) months, mean and variance of the last 24 months.
* ``negative_binomial``: the quantile of a negative binomial with that mean and variance
  (Poisson when the variance is below the mean).
* ``empirical``: the empirical p-quantile of the last 24 months' (L + 1)-month sums.

Measured per method, lead time and target: achieved cycle service (share of series-months
ending without backorders), pooled and per demand class with a 95% interval over series; fill
rate (units served from stock on their month / demand); average on hand (units, month ends).
Usage: python benchmarks/carparts_inventory.py [--window test|validation|both]
Writes benchmarks/results/carparts_inventory.json ({"rows": [...]} on the test window, and
"validation_rows").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import write_results
from scipy.stats import norm

from distributions.counts import count_quantile_at
from forecasting.calibration import count_valued
from forecasting.config import ForecastConfig
from forecasting.engine import backtest, choose_models, forecast
from forecasting.lead_time import error_correlation, lead_time_demand
from forecasting.models import classify
from optimization.config import PlanningConfig
from optimization.targets import PlanningInputs, plan_targets

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "carparts" / "carparts_long_nonan.csv"
)
LEAD_TIMES = (1, 3)
TARGETS = (0.90, 0.95, 0.98, 0.99)
HELD_OUT = 12  # months replayed
WARMUP = 12  # months of known history replayed first
RECENT = 24  # months the simple baselines look back
WINDOWS = {"validation": 27, "test": 39}  # training months


def load() -> np.ndarray:
    """(series, 51) monthly demand of the complete series, and their ids."""
    df = pd.read_csv(DATA, parse_dates=["ds"]).astype({"unique_id": str})
    months = df.groupby("unique_id")["ds"].transform("size")
    df = df[months == months.max()].sort_values(["unique_id", "ds"])
    ids = df["unique_id"].unique()
    return df["y"].to_numpy(float).reshape(len(ids), -1), ids


def project_levels(history: np.ndarray, ids: np.ndarray) -> dict[tuple[int, float], np.ndarray]:
    """S per (lead time, target) through the pipeline's forecasting and targets code."""
    months = pd.date_range("1998-01-01", periods=history.shape[1], freq="MS")
    df = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, history.shape[1]),
            "ds": np.tile(months, len(ids)),
            "y": history.reshape(-1),
        }
    )
    horizon = max(LEAD_TIMES) + 1
    config = ForecastConfig(horizon=horizon, season_length=12, n_windows=2, n_jobs=2)
    tested = backtest(df, config)
    chosen = choose_models(df, tested.scores)
    fc = forecast(df, chosen, config, tested.calibration)
    correlation = error_correlation(tested.errors(chosen), chosen, horizon)
    ltd = lead_time_demand(fc, chosen, correlation, bucket_days=1)
    ltd["count_valued"] = count_valued(df, config).reindex(ltd["unique_id"]).to_numpy(bool)
    ltd = ltd.rename(columns={"unique_id": "sku"}).assign(location_id="NODE")
    levels = {}
    for lead in LEAD_TIMES:
        for target in TARGETS:
            inputs = PlanningInputs(
                item_network=pd.DataFrame(
                    {
                        "sku": ids,
                        "source_location_id": "SUP",
                        "source_location_type": "SUPPLIER",
                        "destination_location_id": "NODE",
                        "destination_location_type": "STORE",
                        "transfer_cost": 0.0,
                    }
                ),
                lane_lead_times=pd.DataFrame(
                    {
                        "source_location_id": ["SUP"],
                        "destination_location_id": ["NODE"],
                        "lead_time_mean_days": [float(lead + 1)],
                        "lead_time_stddev_days": [0.0],
                    }
                ),
                items=pd.DataFrame({"sku": ids, "unit_cost": 1.0, "lot_size": 1, "moq": 0}),
                lead_time_demand=ltd,
                customer_nodes=pd.DataFrame(
                    {"location_id": "NODE", "sku": ids, "item_class": "all"}
                ),
                service_policy=pd.DataFrame(
                    [{"scope": "default", "service_type": "cycle", "service_level": target}]
                ),
            )
            targets, _ = plan_targets(inputs, PlanningConfig(order_cycle_days=1))
            # the base-stock level the GSM sizes (demand over tau + safety stock): the replay
            # below orders up to it every month (the published reorder point is the (s, S)
            # trigger of a daily review, which this monthly replay does not run)
            plan = targets.set_index("sku").loc[ids]
            levels[lead, target] = np.ceil(
                plan["mean_daily_demand"] * plan["net_replenishment_time_days"]
                + plan["safety_stock"]
                - 1e-9
            ).to_numpy()
    return levels


def baseline_levels(history: np.ndarray, method: str, lead: int, target: float) -> np.ndarray:
    """S per series from the last RECENT months (see the module doc)."""
    recent = history[:, -RECENT:]
    periods = lead + 1
    mean = recent.mean(axis=1) * periods
    sd = np.sqrt(recent.var(axis=1, ddof=1) * periods)
    if method == "normal":
        return np.ceil(mean + norm.ppf(target) * sd - 1e-9)
    if method == "negative_binomial":
        return count_quantile_at(mean, sd, np.full(len(mean), target))
    sums = np.lib.stride_tricks.sliding_window_view(recent, periods, axis=1).sum(axis=2)
    return np.quantile(sums, target, axis=1, method="inverted_cdf")


def replay(levels: np.ndarray, demand: np.ndarray, lead: int) -> dict[str, np.ndarray]:
    """Monthly order-up-to ``levels`` against ``demand`` (series, WARMUP + HELD_OUT months):
    per series, months ending without backorders, units served from stock, demand, on hand."""
    n, months = demand.shape
    net = levels.astype(float).copy()  # on hand - backorders
    pipeline = np.zeros((n, lead + 1))  # arrivals due in 0..lead months
    out = {k: np.zeros(n) for k in ("no_backorder", "served", "demand", "on_hand")}
    for month in range(months):
        position = net + pipeline.sum(axis=1)
        pipeline[:, lead] += np.maximum(levels - position, 0.0)  # order at the review
        net += pipeline[:, 0]  # this month's arrival (lead 0 would arrive at once)
        pipeline = np.roll(pipeline, -1, axis=1)
        pipeline[:, -1] = 0.0
        d = demand[:, month]
        served = np.minimum(d, np.maximum(net, 0.0))
        net -= d
        if month >= WARMUP:
            out["no_backorder"] += net >= 0
            out["served"] += served
            out["demand"] += d
            out["on_hand"] += np.maximum(net, 0.0)
    return out


def evaluate(
    y: np.ndarray, ids: np.ndarray, training: int, with_project: bool = True
) -> tuple[list[dict], dict]:
    history, future = y[:, :training], y[:, training - WARMUP : training + HELD_OUT]
    classes = (
        classify(
            pd.DataFrame(
                {
                    "unique_id": np.repeat(ids, training),
                    "ds": np.tile(np.arange(training), len(ids)),
                    "y": history.reshape(-1),
                }
            )
        )
        .set_index("unique_id")
        .loc[ids, "demand_class"]
        .to_numpy()
    )
    seconds = {}
    methods: dict[str, dict] = {}
    if with_project:
        started = time.perf_counter()
        methods["project"] = project_levels(history, ids)
        seconds["project"] = time.perf_counter() - started
    for method in ("normal", "negative_binomial", "empirical"):
        started = time.perf_counter()
        methods[method] = {
            (lead, t): baseline_levels(history, method, lead, t)
            for lead in LEAD_TIMES
            for t in TARGETS
        }
        seconds[method] = time.perf_counter() - started
    rows = []
    for method, levels in methods.items():
        for (lead, target), S in levels.items():
            result = replay(S, future, lead)
            per_series = result["no_backorder"] / HELD_OUT
            row = {
                "method": method,
                "lead_time_months": lead,
                "target": target,
                "achieved_cycle_service": float(per_series.mean()),
                "achieved_cycle_service_ci95": float(
                    1.96 * per_series.std(ddof=1) / np.sqrt(len(per_series))
                ),
                "fill_rate": float(result["served"].sum() / result["demand"].sum()),
                "average_on_hand": float(result["on_hand"].sum() / HELD_OUT / len(ids)),
                "by_class": {},
            }
            for demand_class in np.unique(classes):
                part = per_series[classes == demand_class]
                row["by_class"][str(demand_class)] = {
                    "series": int(len(part)),
                    "achieved_cycle_service": float(part.mean()),
                    "ci95": float(1.96 * part.std(ddof=1) / np.sqrt(len(part)))
                    if len(part) > 1
                    else None,
                }
            rows.append(row)
    return rows, seconds


def print_table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    print(
        f"{'method':<18} {'L':>2} {'target':>6} {'achieved':>8} {'+-95%':>6} "
        f"{'fill':>6} {'on hand':>8}  worst class (achieved)"
    )
    for r in rows:
        worst = min(r["by_class"].items(), key=lambda kv: kv[1]["achieved_cycle_service"])
        print(
            f"{r['method']:<18} {r['lead_time_months']:>2} {r['target']:>6.2f} "
            f"{r['achieved_cycle_service']:>8.4f} {r['achieved_cycle_service_ci95']:>6.4f} "
            f"{r['fill_rate']:>6.4f} {r['average_on_hand']:>8.3f}  "
            f"{worst[0]} {worst[1]['achieved_cycle_service']:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", choices=["validation", "test", "both"], default="both")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/carparts_inventory.json")
    )
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent")
    y, ids = load()
    print(f"{len(ids)} complete series x {y.shape[1]} months")
    started = time.perf_counter()
    results, timing = {}, {}
    windows = ["validation", "test"] if args.window == "both" else [args.window]
    for window in windows:
        results[window], timing[window] = evaluate(y, ids, WINDOWS[window])
        print_table(results[window], f"{window} window (trained on months 1-{WINDOWS[window]})")
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.1f} s in total; per window and method: {timing}")
    payload = {
        "seconds": round(seconds, 1),
        "split": {
            k: f"trained on months 1-{v}, replayed {v + 1}-{v + HELD_OUT}"
            for k, v in WINDOWS.items()
        },
        "rows": results.get("test", []),
        "validation_rows": results.get("validation", []),
    }
    write_results(args.out, payload)


if __name__ == "__main__":
    main()
