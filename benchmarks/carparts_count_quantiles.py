"""Study for the next forecasting step: count-distribution quantiles on car parts.

Same split, back-test, calibration and selection as benchmarks/carparts.py. For the selection
and for four single models (calibrated), the quantiles are recomputed from a negative binomial
(Poisson when not over-dispersed) with the forecast's mean and a standard deviation of
``scale`` x the calibrated 80% upper half-width / z_0.9, and scored on the held-out months:
pooled scaled CRPS and per demand class. Not used by the pipeline yet (nbinom.ppf costs about
1.5 us per value: ~50 s of back-test scoring at 2,000 items). Usage:
python benchmarks/carparts_count_quantiles.py
"""

import numpy as np
import pandas as pd
from carparts import DATA  # benchmarks/carparts.py, beside this script
from scipy.stats import nbinom, poisson

from forecasting.engine import (
    QCOLS,
    QUANTILES,
    Z_80,
    ForecastConfig,
    backtest,
    choose_models,
    forecast,
    pinball,
)
from forecasting.models import classify


def count_quantiles(fc: pd.DataFrame, scale: float) -> pd.DataFrame:
    """Forecast rows with QCOLS from a negative binomial of the same mean (units per bucket)."""
    mean = np.clip(fc["mean"].to_numpy(float), 1e-9, None)
    sd = np.clip((fc["q90"].to_numpy(float) - fc["mean"].to_numpy(float)) / Z_80, 0, None)
    variance = (sd * scale) ** 2
    over = variance > mean * 1.0001
    size = np.where(over, mean**2 / np.where(over, variance - mean, 1.0), 1.0)
    out = fc.copy()
    for q, column in zip(QUANTILES, QCOLS, strict=True):
        out[column] = np.where(
            over, nbinom.ppf(q, size, size / (size + mean)), poisson.ppf(q, mean)
        )
    return out


def main() -> None:
    df = pd.read_csv(DATA, parse_dates=["ds"])[["unique_id", "ds", "y"]].astype({"unique_id": str})
    df = df.sort_values(["unique_id", "ds"], ignore_index=True)
    cut = df.groupby("unique_id")["ds"].transform("max") - pd.DateOffset(months=6)
    train, test = df[df["ds"] <= cut], df[df["ds"] > cut]
    config = ForecastConfig(horizon=6, season_length=12, n_windows=2, n_jobs=2)
    tested = backtest(train, config)
    chosen = choose_models(train, tested.scores)
    classes = classify(train).set_index("unique_id")["demand_class"]

    def report(fc: pd.DataFrame, label: str) -> None:
        merged = fc.merge(test, on=["unique_id", "ds"])
        y = merged["y"].to_numpy(float)
        merged["loss"] = pinball(y, merged[QCOLS].to_numpy(float))
        merged["demand_class"] = merged["unique_id"].map(classes)
        per_class = {
            c: round(2 * g["loss"].mean() / max(g["y"].abs().mean(), 1e-12), 4)
            for c, g in merged.groupby("demand_class")
        }
        print(f"{label:<28} {2 * merged['loss'].mean() / np.abs(y).mean():.4f} {per_class}")

    for model in (None, "AutoTheta", "IMAPA", "TSB", "HistoricAverage"):
        picked = chosen
        if model is not None:
            picked = chosen.assign(
                model=chosen["model"].where(chosen["selected_by"] != "backtest", model)
            )
        fc = forecast(train, picked, config, tested.calibration)
        label = model or "selected"
        report(fc, f"{label} (calibrated)")
        for scale in (0.8, 1.0, 1.2):
            report(count_quantiles(fc, scale), f"{label} NB x{scale}")


if __name__ == "__main__":
    main()
