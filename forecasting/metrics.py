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
from scipy import stats

from distributions.counts import count_quantiles

DENSE_LEVELS = np.round(np.arange(1, 100) / 100, 2)  # 99 levels: the CRPS grid
REFERENCE_LEVELS = np.array([0.025, 0.05, 0.1, 0.2, 0.8, 0.9, 0.95, 0.975])  # car-parts table


def _count_distribution(mean: np.ndarray, sd: np.ndarray):
    """A frozen scipy distribution per row: negative binomial of that mean and variance,
    Poisson where the variance is at most the mean (mean 0: a point mass at 0)."""
    mean = np.clip(np.nan_to_num(np.asarray(mean, dtype=float)), 0.0, None)
    variance = np.maximum(np.nan_to_num(np.asarray(sd, dtype=float)) ** 2, mean)
    over = variance > mean * (1 + 1e-9)
    size = np.where(over, mean**2 / np.where(over, variance - mean, 1.0), 1.0)
    p = np.where(over, size / (size + np.where(mean > 0, mean, 1.0)), 1.0)
    return mean, over, stats.nbinom(size, p), stats.poisson(mean)


def count_cdf(mean: np.ndarray, sd: np.ndarray, k: np.ndarray) -> np.ndarray:
    """P(X <= k) per row (k may be 2-D: rows x points)."""
    mean, over, nbinom, poisson = _count_distribution(mean, sd)
    k = np.asarray(k, dtype=float)
    extra = (slice(None),) + (None,) * (k.ndim - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf = np.where(
            over[extra],
            stats.nbinom.cdf(k, nbinom.args[0][extra], nbinom.args[1][extra]),
            stats.poisson.cdf(k, mean[extra]),
        )
    return np.where(mean[extra] > 0, cdf, (k >= 0).astype(float))


def crps_count(mean: np.ndarray, sd: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact CRPS per row (units) of the count forecast against outcome ``y`` (whole units)."""
    y = np.asarray(y, dtype=float)
    top = count_quantiles(mean, sd, np.array([1 - 1e-9]))[:, 0]
    reach = int(max(np.max(top, initial=0), np.max(y, initial=0))) + 1
    out = np.zeros(len(y))
    for start in range(0, reach, 256):  # blocks of k keep memory at rows x 256
        k = np.arange(start, min(start + 256, reach))[None, :]
        cdf = count_cdf(mean, sd, np.broadcast_to(k, (len(y), k.shape[1])))
        out += ((cdf - (y[:, None] <= k)) ** 2).sum(axis=1)
    return out


def quantile_score(y: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """2 x pinball loss averaged over ``levels`` per row (units); quantiles (rows, levels)."""
    diff = np.asarray(y, dtype=float)[:, None] - quantiles
    return 2 * np.maximum(levels * diff, (levels - 1) * diff).mean(axis=1)


def randomized_pit(
    mean: np.ndarray, sd: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """F(y - 1) + U (F(y) - F(y - 1)) per row, U uniform on (0, 1)."""
    y = np.asarray(y, dtype=float)
    below = count_cdf(mean, sd, y - 1)
    at = count_cdf(mean, sd, y)
    return below + rng.random(len(y)) * (at - below)


def central_coverage(pit: np.ndarray, level: float) -> float:
    """Share of outcomes inside the central ``level`` interval, from their PIT values."""
    tail = (1 - level) / 2
    return float(((pit > tail) & (pit <= 1 - tail)).mean())
