"""Forecast accuracy on Hyndman's car parts (../shared/data/carparts), scored honestly.

Series: the reference's 2,509 with all 51 months. Split (fixed before any result was read):
* validation: trained on months 1-39, scored on months 40-45: every design choice (candidates,
  selection margin, calibration) is judged here;
* test: trained on months 1-45, scored on months 46-51, once per change, and reported.

Methods: ``selected`` (the pipeline: back-test, per-class choice, calibrated count forecasts),
``selected_one_bucket_earlier`` (the choice and calibration made a month earlier and reused,
each series' model refit on all the training months: the cost of the selection cadence),
every single candidate everywhere (calibrated like the selection), and ``negative_binomial``:
IMAPA's mean with the dispersion (variance / mean) of the series' last 24 months.

Scores, pooled over series x months and divided by the mean |actual| of the window:
* ``crps_99``: 2 x pinball averaged over the 99 levels 0.01 .. 0.99 (a CRPS approximation);
* ``crps_exact``: the exact CRPS of each count forecast (negative binomial / Poisson);
* ``score_8``: the car-parts reference's 8-level quantile score (README of the data), to compare
  with its table; not a CRPS;
* ``pit_central_80`` / ``_95``: share of outcomes inside the central interval by randomised PIT;
* ``bias``: total forecast / total actual - 1.
Paired bootstrap over series (2,000 draws): the selection's exact CRPS against each other method,
95% interval of the relative difference. Usage: python benchmarks/carparts.py
[--window validation|test|both]. Writes benchmarks/results/carparts.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import write_results

from distributions.counts import count_quantiles
from forecasting.config import ForecastConfig
from forecasting.engine import backtest, choose_models, forecast
from forecasting.metrics import (
    DENSE_LEVELS,
    REFERENCE_LEVELS,
    central_coverage,
    crps_count,
    quantile_score,
    randomized_pit,
)
from forecasting.models import classify, model_by_name
from forecasting.selection import Selection, selection_settings

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "carparts" / "carparts_long_nonan.csv"
)
HORIZON = 6
WINDOWS = {"validation": 39, "test": 45}  # training months
SINGLE_MODELS = [
    "CrostonSBA",
    "TSB",
    "ADIDA",
    "IMAPA",
    "HistoricAverage",
    "AutoETS",
    "AutoTheta",
    "SeasonalNaive",
    "GlobalLightGBM",
]
RECENT = 24  # months of the negative-binomial baseline's dispersion
STALE = "selected_one_bucket_earlier"  # the selection made a month before, reused


def load() -> pd.DataFrame:
    df = pd.read_csv(DATA, parse_dates=["ds"])[["unique_id", "ds", "y"]].astype({"unique_id": str})
    months = df.groupby("unique_id")["ds"].transform("size")
    return df[months == months.max()].sort_values(["unique_id", "ds"], ignore_index=True)


def scores(fc: pd.DataFrame, actual: pd.DataFrame, rng: np.random.Generator) -> dict:
    """The module doc's scores of forecasts (unique_id, ds, mean, sd) against ``actual``."""
    merged = fc.merge(actual, on=["unique_id", "ds"])
    y, mean, sd = (merged[c].to_numpy(float) for c in ("y", "mean", "sd"))
    scale = max(np.abs(y).mean(), 1e-12)
    exact = crps_count(mean, sd, y)
    pit = randomized_pit(mean, sd, y, rng)
    return {
        "crps_99": float(
            quantile_score(y, count_quantiles(mean, sd, DENSE_LEVELS), DENSE_LEVELS).mean() / scale
        ),
        "crps_exact": float(exact.mean() / scale),
        "score_8": float(
            quantile_score(y, count_quantiles(mean, sd, REFERENCE_LEVELS), REFERENCE_LEVELS).mean()
            / scale
        ),
        "pit_central_80": central_coverage(pit, 0.8),
        "pit_central_95": central_coverage(pit, 0.95),
        "bias": float(mean.sum() / max(y.sum(), 1e-12) - 1),
        "_per_series": pd.Series(exact, index=merged["unique_id"].to_numpy())
        .groupby(level=0)
        .sum(),
    }


def negative_binomial(imapa: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """IMAPA's mean, variance = mean x (variance / mean of the last RECENT months), >= mean."""
    recent = train.groupby("unique_id").tail(RECENT).groupby("unique_id")["y"]
    ratio = (recent.var(ddof=1) / recent.mean()).replace([np.inf], np.nan).fillna(1.0).clip(1.0)
    dispersion = ratio.reindex(imapa["unique_id"]).fillna(1.0).to_numpy()
    return imapa.assign(sd=np.sqrt(imapa["mean"].to_numpy() * dispersion))


def evaluate(
    df: pd.DataFrame, training: int, rng: np.random.Generator, settings: dict | None = None
) -> tuple[list, dict]:
    """The methods' scores on the ``HORIZON`` months after ``training``; ``settings``:
    ForecastConfig fields that differ from the pipeline's."""
    months = np.sort(df["ds"].unique())
    train = df[df["ds"] <= months[training - 1]]
    actual = df[(df["ds"] > months[training - 1]) & (df["ds"] <= months[training + HORIZON - 1])]
    config = ForecastConfig(
        horizon=HORIZON,
        season_length=12,
        n_windows=2,
        n_jobs=2,
        **(settings or {}),
    )
    timing = {}
    started = time.perf_counter()
    tested = backtest(train, config)
    chosen = choose_models(train, tested.scores)
    forecasts = {"selected": forecast(train, chosen, config, tested.calibration)}
    timing["selected"] = round(time.perf_counter() - started, 1)
    # the cadence's cost: the choice and calibration made one bucket earlier (the most a
    # weekly cadence on weekly buckets lets a choice age), each series' model refit on today's
    started = time.perf_counter()
    earlier = train[train["ds"] <= months[training - 2]]
    tested_earlier = backtest(earlier, config)
    stale = Selection(
        models=choose_models(earlier, tested_earlier.scores),
        calibration=tested_earlier.calibration,
        error_correlation=pd.DataFrame(),
        accuracy=pd.DataFrame(),
        selected_on=months[training - 2],
        settings=selection_settings(config),
    )
    forecasts[STALE] = forecast(train, stale.carried_over(train), config, stale.calibration)
    timing[STALE] = round(time.perf_counter() - started, 1)
    n_obs = training
    for name in SINGLE_MODELS:
        try:  # a candidate only where the pipeline would have it (seasonal: >= 42 months)
            model_by_name(name, HORIZON, 12, n_obs)
        except KeyError:
            continue
        started = time.perf_counter()
        # series too short to back-test keep the documented default in every row
        everyone = chosen.assign(
            model=chosen["model"].where(chosen["selected_by"] != "backtest", name)
        )
        forecasts[name] = forecast(train, everyone, config, tested.calibration)
        timing[name] = round(time.perf_counter() - started, 1)
    forecasts["negative_binomial"] = negative_binomial(forecasts["IMAPA"], train)
    rows = {name: scores(fc, actual, rng) for name, fc in forecasts.items()}
    selected = rows["selected"]["_per_series"]
    comparison = {}
    for name, row in rows.items():
        if name == "selected":
            continue
        other = row["_per_series"].reindex(selected.index).to_numpy()
        diff = selected.to_numpy() - other
        draws = rng.integers(0, len(diff), (2000, len(diff)))
        relative = diff[draws].sum(axis=1) / other[draws].sum(axis=1)
        comparison[name] = {
            "relative_crps_difference": float(diff.sum() / other.sum()),
            "ci95": [float(np.quantile(relative, 0.025)), float(np.quantile(relative, 0.975))],
        }
    methods = [
        {"method": name, **{k: v for k, v in row.items() if not k.startswith("_")}}
        for name, row in rows.items()
    ]
    info = {
        "timing_seconds": timing,
        "selected_vs": comparison,
        "chosen_models": chosen["model"].value_counts().to_dict(),
        "classes": classify(train)["demand_class"].value_counts().to_dict(),
    }
    return methods, info


def show(methods: list, info: dict, title: str) -> None:
    print(f"\n{title}")
    print(
        f"{'method':<18} {'crps_99':>8} {'exact':>8} {'score_8':>8} {'pit80':>6} {'pit95':>6} "
        f"{'bias':>7}  selected vs it (95% interval)"
    )
    for m in methods:
        versus = info["selected_vs"].get(m["method"])
        note = (
            f"{versus['relative_crps_difference']:+.1%} "
            f"[{versus['ci95'][0]:+.1%}, {versus['ci95'][1]:+.1%}]"
            if versus
            else ""
        )
        print(
            f"{m['method']:<18} {m['crps_99']:>8.4f} {m['crps_exact']:>8.4f} {m['score_8']:>8.4f} "
            f"{m['pit_central_80']:>6.3f} {m['pit_central_95']:>6.3f} {m['bias']:>+7.1%}  {note}"
        )
    print("chosen:", info["chosen_models"], "seconds:", info["timing_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", choices=["validation", "test", "both"], default="both")
    parser.add_argument(
        "--dispersion-buckets",
        type=int,
        default=None,
        help="ForecastConfig.count_dispersion_buckets (default: the pipeline's; 0: model widths)",
    )
    parser.add_argument(
        "--screen-series",
        type=int,
        default=None,
        help="ForecastConfig.screen_series (default: the pipeline's)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/carparts.json"))
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent")
    df = load()
    print(f"{df['unique_id'].nunique()} complete series, horizon {HORIZON} months")
    started = time.perf_counter()
    payload: dict = {
        "split": {
            k: f"trained on months 1-{v}, scored on {v + 1}-{v + HORIZON}"
            for k, v in WINDOWS.items()
        },
    }
    windows = ["validation", "test"] if args.window == "both" else [args.window]
    for window in windows:
        settings = {
            name: value
            for name, value in (
                ("count_dispersion_buckets", args.dispersion_buckets),
                ("screen_series", args.screen_series),
            )
            if value is not None
        }
        methods, info = evaluate(df, WINDOWS[window], np.random.default_rng(0), settings)
        show(methods, info, f"{window} window ({payload['split'][window]})")
        key = "methods" if window == "test" else "validation_methods"
        payload[key] = methods
        payload[f"{window}_info"] = info
    payload["seconds"] = round(time.perf_counter() - started, 1)
    print(f"\n{payload['seconds']} s in total")
    write_results(args.out, payload)


if __name__ == "__main__":
    main()
