"""How much better car parts' forecasts can get, on the validation window only (issue 18).

The pipeline's best single candidate, the global LightGBM summarised as a negative binomial of
its mean and sd, scores CRPS-99 ~0.794 on car parts' validation window (trained on months 1-39,
scored on 40-45; benchmarks/carparts.py). This script measures, on that window and never on the
test window, what other ways of using the same global features buy:

* ``tweedie_mean``: a LightGBM Tweedie mean (power 1.5) with the pipeline's calibrated
  dispersion (variance / mean of each row's negative binomial);
* ``direct_quantiles_rounded``: LightGBM quantile models at 21 levels (0.05 .. 0.95, 0.97,
  0.99) interpolated onto the 99-level grid and rounded to whole units;
* ``count_classes``: one multiclass LightGBM for P(y = 0 .. 7) and P(y >= 8) (the upper tail
  from the negative binomial), its CDF pooled 70/30 with the negative binomial's;
* ``bagged_5_seeds``: the mean of five global models (the pipeline's, seeds 0-4: each its own
  sample of training rows), same dispersion: what averaging away the sampling noise buys;
* ``age_and_size_features``: the pipeline's model with two more features, the buckets since the
  series' first demand and the mean non-zero demand of the last 24 buckets, same dispersion;
* ``oracle_*``: not forecasts: the negative binomial given the realised mean of each
  series' six scored months (all of it, or a quarter of the way from the model's mean): what a
  better mean could buy at most; ``oracle_common_level``: every mean scaled by the window's
  realised total over the forecast total (perfect knowledge of the level all parts share).

Scores as in benchmarks/carparts.py: ``crps_99`` = 2 x pinball over 0.01 .. 0.99 pooled and
divided by the window's mean |actual|. Usage: python benchmarks/carparts_ceiling.py; writes
benchmarks/results/carparts_ceiling.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from carparts import DATA, HORIZON, WINDOWS, load
from provenance import write_results

from distributions.counts import count_cdf_at, count_quantiles
from forecasting.config import ForecastConfig
from forecasting.engine import backtest, choose_models, forecast
from forecasting.global_model import (
    GLOBAL_MODEL,
    MIN_HISTORY,
    MIN_KNOWN,
    GlobalQuantileGBM,
    _History,
)
from forecasting.metrics import DENSE_LEVELS, quantile_score

DIRECT_LEVELS = np.array([*np.round(np.arange(0.05, 0.96, 0.05), 2), 0.97, 0.99])
TOP_CLASS = 8  # classes 0 .. 7 and ">= 8"
POOL = 0.7  # weight of the multiclass CDF in its pool with the negative binomial


def training_rows(history: _History, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (series, origin, step) row the global model's features give: features, target
    scaled by the series' scale, and that scale (units per bucket)."""
    features, targets, scales = [], [], []
    for origin in range(MIN_HISTORY, history.length):
        rows = np.flatnonzero(history.counts[:, origin] >= MIN_KNOWN)
        base, scale = history.features(rows, origin)
        for step in range(1, min(horizon, history.length - origin) + 1):
            target = history.values[rows, origin + step - 1]
            known = ~np.isnan(target)
            features.append(history.with_step(base[known], rows[known], origin, step))
            targets.append(target[known] / scale[known])
            scales.append(scale[known])
    return np.vstack(features), np.concatenate(targets), np.concatenate(scales)


class _AgeAndSize(_History):
    """The pipeline's features plus buckets since the first demand (NaN: none yet) and the
    mean non-zero demand of the last 24 buckets (scaled like the others)."""

    def features(self, rows: np.ndarray, origin: int) -> tuple[np.ndarray, np.ndarray]:
        base, scale = super().features(rows, origin)
        demand = np.nan_to_num(self.values[rows, :origin]) > 0
        first = np.where(demand.any(axis=1), demand.argmax(axis=1), -1)
        age = np.where(first >= 0, origin - first, np.nan)
        low = max(origin - 24, 0)
        hits = self.nonzero[rows, origin] - self.nonzero[rows, low]
        total = self.sums[rows, origin] - self.sums[rows, low]
        with np.errstate(invalid="ignore", divide="ignore"):
            size = total / np.where(hits > 0, hits, np.nan) / scale
        return np.column_stack([base, age, size]), scale


def global_mean(train: pd.DataFrame, seed: int, history_class: type = _History) -> np.ndarray:
    """(series x horizon) mean of the pipeline's global model (average of its quantiles),
    rows by series then month, trained on every training month."""
    model = GlobalQuantileGBM(season_length=12, seed=seed)
    history = history_class.of(train, 12, "MS")
    quantiles = model._predict(
        model._train(history, history.length, HORIZON, 2), history, history.length, HORIZON
    )
    return quantiles.mean(axis=1)


def _scored(values: np.ndarray, history: _History, rows: pd.DataFrame) -> np.ndarray:
    """``values`` (series then month, as global_mean gives them) on the scored ``rows``."""
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(history.ids, HORIZON),
            "ds": history.dates(history.length, HORIZON).ravel(),
            "value": values,
        }
    )
    return (
        rows[["unique_id", "ds"]]
        .merge(frame, on=["unique_id", "ds"], how="left")["value"]
        .to_numpy()
    )


def lightgbm(x: np.ndarray, y: np.ndarray, rounds: int, **params):
    import lightgbm as lgb

    settings = {"verbose": -1, "seed": 0, "num_threads": 2, "min_child_samples": 50} | params
    return lgb.train(settings, lgb.Dataset(x, y), num_boost_round=rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/carparts_ceiling.json")
    )
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent")
    started = time.perf_counter()
    df = load()
    months = np.sort(df["ds"].unique())
    training = WINDOWS["validation"]
    train = df[df["ds"] <= months[training - 1]]
    actual = df[(df["ds"] > months[training - 1]) & (df["ds"] <= months[training + HORIZON - 1])]
    config = ForecastConfig(horizon=HORIZON, season_length=12, n_windows=2, n_jobs=2)
    tested = backtest(train, config)
    chosen = choose_models(train, tested.scores)
    everyone = chosen.assign(
        model=chosen["model"].where(chosen["selected_by"] != "backtest", GLOBAL_MODEL)
    )
    pipeline = forecast(train, everyone, config, tested.calibration)
    rows = pipeline.merge(actual, on=["unique_id", "ds"]).sort_values(["unique_id", "ds"])
    y = rows["y"].to_numpy(float)
    mean, sd = rows["mean"].to_numpy(), rows["sd"].to_numpy()
    dispersion = np.maximum(sd**2 / np.maximum(mean, 1e-12), 1.0)
    scale = np.abs(y).mean()

    def crps_99(quantiles: np.ndarray) -> float:
        return float(quantile_score(y, quantiles, DENSE_LEVELS).mean() / scale)

    def negative_binomial(m: np.ndarray) -> np.ndarray:
        return count_quantiles(m, np.sqrt(m * dispersion), DENSE_LEVELS)

    history = _History.of(train, 12, "MS")
    x, target, weights = training_rows(history, HORIZON)
    series = np.arange(history.n_series)
    base, series_scale = history.features(series, history.length)
    x_next = np.vstack(
        [history.with_step(base, series, history.length, h) for h in range(1, HORIZON + 1)]
    )  # step-major
    position = pd.Series(
        np.arange(history.n_series * HORIZON),
        index=pd.MultiIndex.from_arrays(
            [np.tile(history.ids, HORIZON), np.repeat(np.arange(HORIZON), history.n_series)]
        ),
    )
    order = position.reindex(
        pd.MultiIndex.from_arrays(
            [rows["unique_id"].to_numpy(), rows.groupby("unique_id").cumcount().to_numpy()]
        )
    ).to_numpy()
    units = np.tile(series_scale, HORIZON)[order]  # the scale of each scored row

    methods = {"pipeline_global_lightgbm": crps_99(negative_binomial(mean))}
    tweedie = lightgbm(
        x, target, 300, objective="tweedie", tweedie_variance_power=1.5, learning_rate=0.05
    )
    methods["tweedie_mean"] = crps_99(negative_binomial(tweedie.predict(x_next)[order] * units))
    direct = np.column_stack(
        [
            lightgbm(x, target, 100, objective="quantile", alpha=a, learning_rate=0.1).predict(
                x_next
            )[order]
            * units
            for a in DIRECT_LEVELS
        ]
    )
    direct = np.maximum.accumulate(np.clip(direct, 0.0, None), axis=1)
    grid = np.array([np.interp(DENSE_LEVELS, DIRECT_LEVELS, row) for row in direct])
    methods["direct_quantiles_rounded"] = crps_99(np.round(grid))
    counts = np.minimum(np.round(target * weights), TOP_CLASS).astype(int)
    classes = lightgbm(
        x, counts, 200, objective="multiclass", num_class=TOP_CLASS + 1, learning_rate=0.05,
        num_leaves=15, min_child_samples=100,
    )  # fmt: skip
    cdf = np.cumsum(classes.predict(x_next)[order][:, :TOP_CLASS], axis=1)
    nb_cdf = np.column_stack(
        [count_cdf_at(mean, sd, np.full(len(mean), k, float)) for k in range(TOP_CLASS)]
    )
    pooled = POOL * cdf + (1 - POOL) * nb_cdf
    tail = count_quantiles(mean, sd, DENSE_LEVELS)
    below = (pooled[:, None, :] < DENSE_LEVELS[None, :, None]).sum(axis=2)
    methods["count_classes"] = crps_99(
        np.where(below < TOP_CLASS, below, np.maximum(tail, TOP_CLASS))
    )
    bag = np.mean([global_mean(train, seed) for seed in range(5)], axis=0)
    methods["bagged_5_seeds"] = crps_99(negative_binomial(_scored(bag, history, rows)))
    extra = global_mean(train, 0, _AgeAndSize)
    methods["age_and_size_features"] = crps_99(negative_binomial(_scored(extra, history, rows)))
    realised = rows.groupby("unique_id")["y"].transform("mean").to_numpy()
    methods["oracle_common_level"] = crps_99(negative_binomial(mean * y.sum() / mean.sum()))
    methods["oracle_mean_quarter_way"] = crps_99(negative_binomial(0.75 * mean + 0.25 * realised))
    methods["oracle_mean"] = crps_99(negative_binomial(realised))
    for name, score in methods.items():
        print(
            f"{name:<28} crps_99 {score:.4f}  {score / methods['pipeline_global_lightgbm'] - 1:+.1%}"
        )
    seconds = round(time.perf_counter() - started, 1)
    write_results(
        args.out,
        {
            "window": f"validation: trained on months 1-{training}, scored on "
            f"{training + 1}-{training + HORIZON}",
            "series": int(rows["unique_id"].nunique()),
            "crps_99": methods,
            "seconds": seconds,
        },
    )


if __name__ == "__main__":
    main()
