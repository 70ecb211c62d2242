"""Scores of probabilistic forecasts, named for what they compute.

* ``crps_count``: the exact continuous ranked probability score of a count forecast (negative
  binomial with a mean and sd, Poisson where the variance is at most the mean, as
  ``distributions.counts`` quantiles it): sum over k >= 0 of (F(k) - 1{y <= k})^2, units.
* ``quantile_score``: 2 x the pinball loss averaged over a set of levels, units. Over a dense
  uniform grid (0.01 .. 0.99) it approximates the CRPS; over a few tail-heavy levels (the
  pipeline's 13, the car-parts reference's 8) it is a quantile score, not a CRPS.
* ``randomized_pit``: the probability integral transform of a count forecast with the jump at
  y spread uniformly (Czado, Gneiting and Held 2009): uniform when the forecast is calibrated,
  so central-interval coverage is measured without the counting artefact of integer quantiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from distributions.counts import count_cdf_at, count_crps
from forecasting.config import COVERAGE_LEVELS, QCOLS, QUANTILES, qname

DENSE_LEVELS = np.round(np.arange(1, 100) / 100, 2)  # 99 levels: the CRPS grid
REFERENCE_LEVELS = np.array([0.025, 0.05, 0.1, 0.2, 0.8, 0.9, 0.95, 0.975])  # car-parts table


def crps_count(mean: np.ndarray, sd: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact CRPS per row (units) of the count forecast against outcome ``y`` (whole units)."""
    return count_crps(mean, sd, y)


def quantile_score(y: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """2 x pinball loss averaged over ``levels`` per row (units); quantiles (rows, levels)."""
    diff = np.asarray(y, dtype=float)[:, None] - quantiles
    return 2 * np.maximum(levels * diff, (levels - 1) * diff).mean(axis=1)


def randomized_pit(
    mean: np.ndarray, sd: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """F(y - 1) + U (F(y) - F(y - 1)) per row, U uniform on (0, 1)."""
    y = np.asarray(y, dtype=float)
    below = count_cdf_at(mean, sd, y - 1)
    at = count_cdf_at(mean, sd, y)
    return below + rng.random(len(y)) * (at - below)


def central_coverage(pit: np.ndarray, level: float) -> float:
    """Share of outcomes inside the central ``level`` interval, from their PIT values."""
    tail = (1 - level) / 2
    return float(((pit > tail) & (pit <= 1 - tail)).mean())


def pinball(y: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Pinball loss per row averaged over QUANTILES (units): q d - min(d, 0) with d = y minus
    the quantile, in one temporary array of the quantiles' size (max(q d, (q - 1) d) made
    four: +1 GiB for 2.3 M back-test points at 2,000 items)."""
    q = np.asarray(QUANTILES)
    diff = y[:, None] - quantiles
    linear = diff @ q
    np.minimum(diff, 0.0, out=diff)
    return (linear - diff.sum(axis=1)) / len(q)


def series_scale(df: pd.DataFrame) -> pd.Series:
    """Scale of each series: mean absolute demand per bucket (units), 1 where it is 0."""
    scale = df["y"].abs().groupby(df["unique_id"]).mean()
    return scale.where(scale > 0, 1.0)


def accuracy(errors: pd.DataFrame, chosen: pd.DataFrame, scale: pd.Series) -> pd.DataFrame:
    """Back-test accuracy of each series' chosen model: scaled pinball, coverage, bias.

    ``errors`` holds only the chosen models' points (``Backtest.errors``); the per-point
    figures are computed as arrays into a slim frame (a merge copied all the quantile columns:
    +1 GiB at 2,000 items)."""
    if errors.empty:
        return pd.DataFrame(
            columns=["unique_id", "model", "demand_class", "scaled_pinball", "bias"]
        )
    y = errors["y"].to_numpy(float)
    points = {
        "unique_id": errors["unique_id"].to_numpy(),
        "model": errors["model"].to_numpy(),
        "loss": pinball(y, errors[QCOLS].to_numpy(float))
        / errors["unique_id"].map(scale).to_numpy(),
        "error": errors["point"].to_numpy(float) - y,
        "y": y,
    }
    for level in COVERAGE_LEVELS:
        lo, hi = qname((100 - level) / 200), qname(1 - (100 - level) / 200)
        points[f"coverage_{level}"] = (y >= errors[lo].to_numpy()) & (y <= errors[hi].to_numpy())
    agg = (
        pd.DataFrame(points)
        .groupby(["unique_id", "model"], as_index=False, sort=True)
        .agg(
            scaled_pinball=("loss", "mean"),
            **{f"coverage_{lv}": (f"coverage_{lv}", "mean") for lv in COVERAGE_LEVELS},
            bias=("error", "mean"),
            mean_actual=("y", "mean"),
            backtest_points=("y", "size"),
        )
    )
    classes = chosen.drop_duplicates(["unique_id", "model"]).set_index(["unique_id", "model"])
    agg.insert(
        2,
        "demand_class",
        classes["demand_class"]
        .reindex(pd.MultiIndex.from_frame(agg[["unique_id", "model"]]))
        .to_numpy(),
    )
    return agg
