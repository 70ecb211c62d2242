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

from distributions.counts import count_cdf_at, count_crps

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
