"""Intermittent-demand accuracy on Hyndman's car parts (../shared/data/carparts): 2,509 monthly
series. The last HORIZON months are held out; model choice, calibration and forecasts use only
the months before. Prints pooled scaled CRPS (2 x mean pinball over the quantile grid / mean
|actual|) and 80/95% coverage for the selected forecasts and each single model, measured in
the same run, and series per second. "symmetric": the same selection with every series' quantiles
from its symmetric intervals clipped at 0 instead of a count distribution. Usage: python benchmarks/carparts.py [--horizon 6]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.engine import (
    QCOLS,
    ForecastConfig,
    backtest,
    choose_models,
    forecast,
    pinball,
    qname,
)
from forecasting.models import classify

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "carparts" / "carparts_long_nonan.csv"
)
SINGLE_MODELS = [
    "CrostonSBA",
    "TSB",
    "ADIDA",
    "IMAPA",
    "HistoricAverage",
    "AutoETS",
    "AutoTheta",
    "SeasonalNaive",
]


def score(fc: pd.DataFrame, test: pd.DataFrame) -> dict:
    merged = fc.merge(test, on=["unique_id", "ds"])
    y = merged["y"].to_numpy(float)
    loss = pinball(y, merged[QCOLS].to_numpy(float))
    out = {"scaled_crps": float(2 * loss.mean() / max(np.abs(y).mean(), 1e-12))}
    for level in (80, 95):
        lo, hi = qname((100 - level) / 200), qname(1 - (100 - level) / 200)
        out[f"coverage_{level}"] = float(((y >= merged[lo]) & (y <= merged[hi])).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--horizon", type=int, default=6)
    parser.add_argument("--margin", type=float, default=None, help="override the selection margin")
    parser.add_argument("--windows", type=int, default=2, help="back-test origins")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/carparts.json"))
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent")
    df = pd.read_csv(DATA, parse_dates=["ds"])[["unique_id", "ds", "y"]].astype({"unique_id": str})
    df = df.sort_values(["unique_id", "ds"], ignore_index=True)
    last = df.groupby("unique_id")["ds"].transform("max")
    cut = last - pd.DateOffset(months=args.horizon)
    train, test = df[df["ds"] <= cut], df[df["ds"] > cut]
    config = ForecastConfig(
        horizon=args.horizon, season_length=12, n_windows=args.windows, n_jobs=2
    )
    n_series = train["unique_id"].nunique()
    print(f"{n_series} series, {len(train)} training points, horizon {args.horizon} months")
    print("classes:", classify(train)["demand_class"].value_counts().to_dict())
    lengths = train.groupby("unique_id").size()
    print(
        f"training length: min {lengths.min()}, median {int(lengths.median())}, max {lengths.max()} months"
    )

    rows = {}
    started = time.perf_counter()
    tested = backtest(train, config)
    scores, calibration = tested.scores, tested.calibration
    chosen = (
        choose_models(train, scores)
        if args.margin is None
        else choose_models(train, scores, args.margin)
    )
    selected = forecast(train, chosen, config, calibration)
    seconds = time.perf_counter() - started
    rows["selected (calibrated)"] = score(selected, test)
    raw_config = ForecastConfig(
        horizon=args.horizon, season_length=12, n_windows=2, n_jobs=2, calibrate=False
    )
    raw_scores = backtest(train, raw_config).scores
    rows["selected (as fitted)"] = score(
        forecast(train, choose_models(train, raw_scores), raw_config), test
    )
    symmetric = ForecastConfig(
        horizon=args.horizon, season_length=12, n_windows=2, n_jobs=2, count_shape=False
    )
    symmetric_tested = backtest(train, symmetric)
    rows["selected (symmetric)"] = score(
        forecast(
            train,
            choose_models(train, symmetric_tested.scores),
            symmetric,
            symmetric_tested.calibration,
        ),
        test,
    )
    print(f"selection + forecast: {seconds:.1f} s, {n_series / seconds:.1f} series/s")
    print("chosen models:", chosen["model"].value_counts().to_dict())
    for name in SINGLE_MODELS:
        t = time.perf_counter()
        # series too short to back-test keep the documented default in every row
        everyone = chosen.assign(
            model=chosen["model"].where(chosen["selected_by"] != "backtest", name)
        )
        # single models with their intervals as fitted and, separately, calibrated like the selection
        rows[name] = score(forecast(train, everyone, config), test)
        rows[f"{name} (calibrated)"] = score(forecast(train, everyone, config, calibration), test)
        rows[name]["seconds"] = round(time.perf_counter() - t, 1)
    print(f"{'method':<24} {'scaled CRPS':>12} {'cov 80%':>8} {'cov 95%':>8}")
    for name, r in rows.items():
        print(
            f"{name:<24} {r['scaled_crps']:>12.4f} {r['coverage_80']:>8.3f} {r['coverage_95']:>8.3f}"
        )
    best_single = min(
        (r["scaled_crps"], n) for n, r in rows.items() if n.split(" ")[0] in SINGLE_MODELS
    )
    print(
        f"best single model: {best_single[1]} ({best_single[0]:.4f}); selected: {rows['selected (calibrated)']['scaled_crps']:.4f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"rows": rows, "series_per_second": n_series / seconds}, indent=2)
    )


if __name__ == "__main__":
    main()
