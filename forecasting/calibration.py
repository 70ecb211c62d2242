"""From a model's intervals to calibrated quantiles and a standard deviation.

Count series (whole units): a negative binomial with the model's mean and an sd from the
series' recent dispersion (``recent_dispersion``), times a multiplier fitted on the back-test
(``count_spread``). Other series: the interval bounds, each level's half-width rescaled to
its back-test coverage (``level_scales``), clipped at 0 and monotone."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from distributions.counts import count_quantiles
from forecasting.config import LEVELS, QUANTILES, Z_80, ForecastConfig
from forecasting.metrics import pinball


def interval_matrix(
    frame: pd.DataFrame, model: str, dispersion: np.ndarray | None = None
) -> np.ndarray:
    """(rows, 1 + 2 x len(LEVELS)) float32: the model's mean, then lo and hi per level. Rows
    with a ``dispersion`` (not NaN: count series, see ``recent_dispersion``) get symmetric
    bounds mean +- z sqrt(mean x dispersion) instead of the model's own."""
    columns = [model] + [f"{model}-{side}-{lv}" for lv in LEVELS for side in ("lo", "hi")]
    out = frame[columns].to_numpy(dtype=np.float32)
    if dispersion is not None:
        rows = ~np.isnan(dispersion)
        mean = np.clip(out[rows, 0].astype(float), 0.0, None)
        sd = np.sqrt(mean * dispersion[rows])
        for k, level in enumerate(LEVELS):
            z = float(ndtri(0.5 + level / 200))
            out[rows, 1 + 2 * k] = mean - z * sd
            out[rows, 2 + 2 * k] = mean + z * sd
    return out


def recent_dispersion(df: pd.DataFrame, buckets: int) -> np.ndarray:
    """Per row of ``df`` (sorted by unique_id, ds): variance / mean of the series' last
    ``buckets`` buckets up to that row (itself included), at least 1 (a Poisson's); 1 where
    the window has under two buckets or no demand. One pass over cumulative sums."""
    y = df["y"].to_numpy(float)
    codes = pd.factorize(df["unique_id"])[0]
    position = np.arange(len(y))
    first = np.zeros(len(y), dtype=np.int64)
    starts = np.flatnonzero(np.diff(codes, prepend=-1))
    first[starts] = starts
    first = np.maximum.accumulate(first)
    low = np.maximum(position - buckets + 1, first)
    count = (position - low + 1).astype(float)
    sums = np.concatenate([[0.0], np.cumsum(y)])
    squares = np.concatenate([[0.0], np.cumsum(y * y)])
    total = sums[position + 1] - sums[low]
    mean = total / count
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = (squares[position + 1] - squares[low] - count * mean**2) / (count - 1)
        ratio = np.where((count > 1) & (mean > 0), variance / mean, 1.0)
    return np.clip(np.nan_to_num(ratio, nan=1.0), 1.0, None)


def _dispersion_window(config: ForecastConfig) -> int:
    """Buckets of ``recent_dispersion`` (0: the models' own interval widths)."""
    if config.count_dispersion_buckets is None:
        return config.season_length
    return config.count_dispersion_buckets


def row_dispersion(
    part: pd.DataFrame,
    keys: pd.DataFrame,
    at: str,
    counts: pd.Series,
    config: ForecastConfig,
) -> np.ndarray | None:
    """``recent_dispersion`` of count series at the bucket ``keys[at]`` (the back-test's
    cutoff, or the last bucket) per row of ``keys`` (unique_id, ``at``); NaN for other series;
    None when the models' own widths are used."""
    window = _dispersion_window(config)
    if not window or not config.count_shape:
        return None
    if not part["unique_id"].is_monotonic_increasing:  # recent_dispersion needs series sorted
        part = part.sort_values(["unique_id", "ds"], kind="stable")
    table = pd.DataFrame(
        {
            "unique_id": part["unique_id"].to_numpy(),
            at: part["ds"].to_numpy(),
            "dispersion": recent_dispersion(part, window),
        }
    )
    out = keys[["unique_id", at]].merge(table, on=["unique_id", at], how="left")["dispersion"]
    whole = counts.reindex(keys["unique_id"].to_numpy()).to_numpy(bool)
    return np.where(whole, out.to_numpy(float), np.nan)


def calibrated_quantiles(
    intervals: np.ndarray,
    level_scales: dict[int | str, float] | None = None,
    counts: np.ndarray | None = None,
) -> np.ndarray:
    """(rows, len(QUANTILES)) quantiles from ``interval_matrix``, each interval's half-width
    multiplied by its level's calibration scale (1 = as fitted); clipped at 0, monotone.
    Rows where ``counts`` is True: whole-unit quantiles of a negative binomial with the mean and
    ``forecast_sd`` instead."""
    counts = np.zeros(len(intervals), dtype=bool) if counts is None else counts
    out = np.empty((len(intervals), len(QUANTILES)))
    if counts.any():  # the mean (column 0) is not changed by calibration
        sd = forecast_sd(intervals[counts], level_scales, counts[counts])
        out[counts] = count_quantiles(intervals[counts, 0], sd, QUANTILES)
    rest = ~counts
    if rest.any():
        scaled = _calibrated(intervals[rest].astype(float), level_scales)
        bounds = np.empty((len(scaled), len(QUANTILES)))
        for k, q in enumerate(QUANTILES):
            level = int(round(abs(2 * q - 1) * 100))
            bounds[:, k] = (
                scaled[:, 0] if q == 0.5 else scaled[:, 1 + 2 * LEVELS.index(level) + (q > 0.5)]
            )
        bounds = np.clip(np.nan_to_num(bounds, nan=0.0), 0.0, None)
        out[rest] = np.maximum.accumulate(bounds, axis=1)
    return out


COUNT_SD = "count_sd"  # calibration key: the sd multiplier of count series


def forecast_sd(
    intervals: np.ndarray,
    level_scales: dict[int | str, float] | None,
    counts: np.ndarray | None,
    floor_counts: bool = False,
) -> np.ndarray:
    """Standard deviation of demand per row (units per bucket) from ``interval_matrix``: the 80%
    interval's upper half-width / z_0.9 (the lower one is cut by 0), calibrated: by the 80%
    level's scale, or on ``counts`` rows by the count distribution's (``COUNT_SD``). With
    ``floor_counts``, count rows are at least a Poisson's sqrt(mean), as their quantiles are
    (``count_quantiles``): the sd the forecast publishes and lead-time demand adds up."""
    scales = level_scales or {}
    upper = intervals[:, 2 + 2 * LEVELS.index(80)].astype(float) - intervals[:, 0]
    counts = np.zeros(len(intervals), dtype=bool) if counts is None else counts
    scale = np.where(counts, scales.get(COUNT_SD, 1.0), scales.get(80, 1.0))
    sd = np.clip(upper * scale / Z_80, 0.0, None)
    if floor_counts:
        poisson = np.sqrt(np.clip(intervals[:, 0].astype(float), 0.0, None))
        sd = np.where(counts, np.maximum(sd, poisson), sd)
    return sd


def count_valued(df: pd.DataFrame, config: ForecastConfig) -> pd.Series:
    """Per series (index unique_id): True when every bucket of its history is a whole number of
    units (and ``config.count_shape``): its quantiles come from a count distribution."""
    whole = df["y"].to_numpy() == np.round(df["y"].to_numpy())
    return pd.Series(whole, index=df["unique_id"]).groupby(level=0, sort=False).all() & bool(
        config.count_shape
    )


# (demand class, model) -> interval scale per level, and COUNT_SD
Calibration = dict[tuple[str, str], dict[int | str, float]]


def _calibrated(intervals: np.ndarray, level_scales: dict[int | str, float] | None) -> np.ndarray:
    """``interval_matrix`` (a copy, same dtype) with each level's half-widths multiplied by its
    scale."""
    out = intervals.copy()
    center = out[:, :1]
    for k, level in enumerate(LEVELS):
        bounds = out[:, 1 + 2 * k : 3 + 2 * k]
        out[:, 1 + 2 * k : 3 + 2 * k] = center + (level_scales or {}).get(level, 1.0) * (
            bounds - center
        )
    return out


def average_intervals(
    intervals: list[np.ndarray], scales: list[dict[int | str, float] | None]
) -> np.ndarray:
    """The members' calibrated means and interval bounds averaged: quantile averaging
    (Vincentization), whose pinball loss is at most the members' average."""
    return np.mean([_calibrated(i, s) for i, s in zip(intervals, scales, strict=True)], axis=0)


def level_scales(y: np.ndarray, intervals: np.ndarray) -> dict[int, float]:
    """Per interval level, the half-width multiplier that makes the ``interval_matrix`` cover that
    share of the actuals ``y`` (split-conformal style, pooled over series)."""
    center = intervals[:, 0].astype(float)
    scales: dict[int, float] = {}
    for k, level in enumerate(LEVELS):
        lo = intervals[:, 1 + 2 * k].astype(float)
        hi = intervals[:, 2 + 2 * k].astype(float)
        width = np.where(y >= center, hi - center, center - lo)
        distance = np.abs(y - center)
        needed = np.where(
            distance <= 0, 0.0, np.where(width > 0, distance / np.maximum(width, 1e-12), np.inf)
        )
        needed = np.nan_to_num(needed, nan=0.0)
        scales[level] = float(np.clip(np.quantile(needed, level / 100), 0.5, 5.0))
    return scales


SPREAD_SAMPLE = 20_000  # back-test points the count spread is fitted on, at most
SPREAD_GRID = np.geomspace(0.5, 2.0, 13)  # sd multipliers tried (12% apart)


def count_spread(y: np.ndarray, intervals: np.ndarray) -> float:
    """The multiplier of ``forecast_sd`` (from SPREAD_GRID) whose count quantiles have the lowest
    pinball loss on the back-test actuals ``y``, on up to SPREAD_SAMPLE evenly spread points:
    the count distribution's spread calibrated by the score it is judged on."""
    rows = np.linspace(0, len(y) - 1, min(len(y), SPREAD_SAMPLE)).astype(int)
    y, intervals = y[rows], intervals[rows]
    mean = intervals[:, 0].astype(float)
    sd = forecast_sd(intervals, None, None)
    loss = [pinball(y, count_quantiles(mean, sd * k, QUANTILES)).mean() for k in SPREAD_GRID]
    return float(SPREAD_GRID[int(np.argmin(loss))])
