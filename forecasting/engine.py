"""Probabilistic demand forecasts per node: back-test, choose per series, forecast quantiles.

Input: a long frame ``unique_id, ds, y`` of demand per planning bucket (units per bucket).
Models are chosen per series by rolling-origin cross-validation on the scaled pinball loss
averaged over the 13 QUANTILES (a tail-weighted quantile score, not a CRPS: 12 of its levels
are at or below 0.2 or at or above 0.8; forecasting.metrics has the CRPS). Quantiles come from
the model's intervals (native or conformal), calibrated on the back-test: for series counted in
whole units, from a negative binomial with the model's mean and a standard deviation from the
series' recent dispersion (``recent_dispersion``; the model's 80% interval where that is off),
times a multiplier fitted on the back-test by the pinball loss (``distributions.counts``);
otherwise the interval bounds themselves, widened per level to cover it, clipped at 0 and
monotone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import ndtri
from statsforecast import StatsForecast

from distributions.counts import count_quantiles
from forecasting.global_model import GlobalQuantileGBM
from forecasting.models import (
    DEFAULT_MODEL,
    ENSEMBLE,
    ROLL_FORWARD,
    candidate_models,
    classify,
    ensemble_members,
    model_by_name,
)
from parameters import check_ranges, setting

QUANTILES = (0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.975, 0.98, 0.99)
LEVELS = (60, 80, 90, 95, 96, 98)
COVERAGE_LEVELS = (80, 90, 95, 98)


def qname(q: float) -> str:
    """Column name of a quantile: 0.05 -> q05, 0.975 -> q97_5."""
    pct = round(q * 100, 1)
    return f"q{int(pct):02d}" if pct == int(pct) else f"q{int(pct):02d}_{int(round(pct * 10)) % 10}"


QCOLS = [qname(q) for q in QUANTILES]
Z_80 = 1.2815515655446004


@dataclass(frozen=True)
class ForecastConfig:
    """The forecast's settings; time in buckets of ``bucket_days`` days."""

    bucket_days: int = setting(
        7, unit="days", doc="planning bucket (7: weeks, 1: days)", low=1, high=366
    )
    horizon: int = setting(13, unit="buckets", doc="buckets forecast ahead", low=1, high=520)
    season_length: int | None = setting(
        None,
        unit="buckets",
        doc="buckets per season (None: from bucket_days, 52 weekly, 7 daily)",
        low=1,
    )
    n_windows: int = setting(2, unit="origins", doc="back-test origins, horizon apart", low=1)
    refit: bool = setting(
        False,
        unit="flag",
        doc="refit the roll-forward candidates (Theta, SeasonalNaive) at every back-test "
        "origin; False: fit at the first and roll forward (statsforecast refit=False)",
    )
    screen_series: int | None = setting(
        2_000,
        unit="series per class",
        doc="series back-tested on every candidate (evenly spread); the rest of the class on "
        "the candidates chosen for >= 1% of them. None: every candidate on every series",
        low=1,
    )
    n_jobs: int = setting(2, unit="processes", doc="statsforecast workers", low=1)
    calibrate: bool = setting(
        True, unit="flag", doc="rescale interval widths per level to the back-test's coverage"
    )
    count_shape: bool = setting(
        True,
        unit="flag",
        doc="negative-binomial quantiles for series of whole units (False: symmetric "
        "intervals clipped at 0)",
    )
    # Chosen on car parts' validation window (exact CRPS 0.8380 with the models' widths,
    # 0.8022 / 0.8067 / 0.8058 with 12 / 24 / 36 months; docs/performance.md)
    count_dispersion_buckets: int | None = setting(
        None,
        unit="buckets",
        doc="spread of count series: variance / mean of this many latest buckets (>= 1) times "
        "the model's mean, calibrated on the back-test; None: one season; 0: the model's width",
        low=0,
    )
    dask_scheduler: str | None = setting(
        None,
        unit="address",
        doc='run statsforecast on this Dask cluster, e.g. "tcp://host:8786"; None: here',
    )

    def __post_init__(self) -> None:
        if self.season_length is None:
            days = self.bucket_days
            season = 7 if days == 1 else 52 if days == 7 else max(1, round(365 / days))
            object.__setattr__(self, "season_length", season)
        check_ranges(self)


def _intervals(frame: pd.DataFrame, model: str, dispersion: np.ndarray | None = None) -> np.ndarray:
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


def _row_dispersion(
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


def _quantiles(
    intervals: np.ndarray,
    level_scales: dict[int | str, float] | None = None,
    counts: np.ndarray | None = None,
) -> np.ndarray:
    """(rows, len(QUANTILES)) quantiles from ``_intervals``, each interval's half-width
    multiplied by its level's calibration scale (1 = as fitted); clipped at 0, monotone.
    Rows where ``counts`` is True: whole-unit quantiles of a negative binomial with the mean and
    ``_sd`` instead."""
    counts = np.zeros(len(intervals), dtype=bool) if counts is None else counts
    out = np.empty((len(intervals), len(QUANTILES)))
    if counts.any():  # the mean (column 0) is not changed by calibration
        sd = _sd(intervals[counts], level_scales, counts[counts])
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


def _sd(
    intervals: np.ndarray,
    level_scales: dict[int | str, float] | None,
    counts: np.ndarray | None,
    floor_counts: bool = False,
) -> np.ndarray:
    """Standard deviation of demand per row (units per bucket) from ``_intervals``: the 80%
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


@contextlib.contextmanager
def _default_sigterm():
    """statsforecast forks worker processes and ends them with SIGTERM; a host (Dagster) that
    installed its own SIGTERM handler would have it raise in every worker. Fork with the default."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(models: list, df: pd.DataFrame, config: ForecastConfig, backtest: bool) -> pd.DataFrame:
    """statsforecast's frame (cross-validation or forecast) of ``models``: the local ones run by
    statsforecast, the global ones (``GlobalQuantileGBM``) by themselves in this process, their
    columns joined on the same rows."""
    local = [m for m in models if not isinstance(m, GlobalQuantileGBM)]
    out = None
    if local:
        with _default_sigterm():
            out = _run_statsforecast(local, df, config, backtest)
    for model in (m for m in models if isinstance(m, GlobalQuantileGBM)):
        freq = _freq(df)
        frame = (
            model.cross_validate(df, freq, config.horizon, config.n_windows, LEVELS, config.n_jobs)
            if backtest
            else model.forecast(df, freq, config.horizon, LEVELS, config.n_jobs)
        )
        if out is None:
            out = frame
            continue
        keys = [k for k in ("unique_id", "ds", "cutoff") if k in out.columns]
        frame = frame.astype({"unique_id": out["unique_id"].dtype})
        joined = out.merge(frame.drop(columns=["y"], errors="ignore"), on=keys, how="left")
        if joined[repr(model)].isna().any():
            raise RuntimeError(f"{model!r} returned other series or dates than statsforecast")
        out = joined
    return out


def _run_statsforecast(
    models: list, df: pd.DataFrame, config: ForecastConfig, backtest: bool
) -> pd.DataFrame:
    if config.dask_scheduler is not None:
        return _run_on_dask(models, df, config, backtest)
    sf = StatsForecast(models=models, freq=_freq(df), n_jobs=config.n_jobs)
    return _call(sf, df, config, backtest)


def _call(sf: StatsForecast, data, config: ForecastConfig, backtest: bool):
    if backtest:
        return sf.cross_validation(
            h=config.horizon,
            df=data,
            n_windows=config.n_windows,
            step_size=config.horizon,
            level=list(LEVELS),
            refit=config.refit,
        )
    return sf.forecast(h=config.horizon, df=data, level=list(LEVELS))


def _run_on_dask(
    models: list, df: pd.DataFrame, config: ForecastConfig, backtest: bool
) -> pd.DataFrame:
    """The same call with a Dask DataFrame on the cluster at ``config.dask_scheduler``:
    statsforecast hands it to Fugue's Dask engine, which partitions by series and submits the
    work through the default client opened here."""
    import dask.dataframe as dd
    from distributed import Client

    with Client(config.dask_scheduler, set_as_default=True) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        data = dd.from_pandas(df, npartitions=2 * workers)
        sf = StatsForecast(models=models, freq=_freq(df), n_jobs=1)
        return _from_dask(_call(sf, data, config, backtest))


def _from_dask(out) -> pd.DataFrame:
    """Computed back to the local engine's layout: float64 values, datetime64 dates, rows by
    series then date (Fugue returns float32 values and Arrow timestamps in any order)."""
    frame = out.compute() if hasattr(out, "compute") else out
    frame = frame.astype({"unique_id": str})
    for column in ("ds", "cutoff"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    values = [c for c in frame.columns if c not in ("unique_id", "ds", "cutoff")]
    frame[values] = frame[values].astype("float64")
    keys = [c for c in ("unique_id", "cutoff", "ds") if c in frame]
    return frame.sort_values(keys, ignore_index=True)


def _freq(df: pd.DataFrame) -> str:
    first = df.loc[df["unique_id"] == df["unique_id"].iloc[0], "ds"].sort_values()
    step = (first.iloc[1] - first.iloc[0]).days if len(first) > 1 else 7
    return (
        "D" if step == 1 else ("W-" + first.iloc[0].day_name()[:3].upper() if step == 7 else "MS")
    )


# (demand class, model) -> interval scale per level, and COUNT_SD
Calibration = dict[tuple[str, str], dict[int | str, float]]


CHUNK_SERIES = 5_000  # series cross-validated per statsforecast call (bounds its frames' memory)


@dataclass
class _ClassBacktest:
    """One demand class's back-test, kept compact: one row per series x origin x step."""

    demand_class: str
    unique_id: np.ndarray  # object
    cutoff: np.ndarray  # datetime64
    step: np.ndarray  # int16, buckets after the origin
    y: np.ndarray  # float32, actual demand (units per bucket)
    counts: np.ndarray  # bool, the series is counted in whole units (``count_valued``)
    intervals: dict[str, np.ndarray]  # model -> ``_intervals`` (float32)


@dataclass
class Backtest:
    """Rolling-origin back-test of every candidate.

    scores: unique_id, model, scaled_pinball (mean over the series' back-test points of the
    pinball loss over QUANTILES on calibrated quantiles, divided by the series' scale).
    calibration: per (class, model) the interval scale per level that makes that model's pooled
    back-test intervals cover their level (empty when ``config.calibrate`` is off).
    """

    scores: pd.DataFrame
    calibration: Calibration
    runs: list[_ClassBacktest]

    def errors(self, chosen: pd.DataFrame) -> pd.DataFrame:
        """Back-test points of each series' chosen model (``choose_models``): unique_id, cutoff,
        step, model, y, point and the calibrated quantiles (units per bucket)."""
        model_of = chosen.set_index("unique_id")["model"]
        frames = []
        for run in self.runs:
            picked = model_of.reindex(run.unique_id).to_numpy()
            for name, intervals in run.intervals.items():
                rows = picked == name
                if not rows.any():
                    continue
                q = _quantiles(
                    intervals[rows],
                    self.calibration.get((run.demand_class, name)),
                    run.counts[rows],
                )
                frames.append(
                    pd.DataFrame(
                        {
                            "unique_id": run.unique_id[rows],
                            "cutoff": run.cutoff[rows],
                            "step": run.step[rows],
                            "model": name,
                            "y": run.y[rows].astype(float),
                            "point": intervals[rows, 0].astype(float),
                            **{QCOLS[k]: q[:, k] for k in range(len(QUANTILES))},
                        }
                    )
                )
        if not frames:
            return pd.DataFrame(columns=["unique_id", "cutoff", "step", "model", "y", "point"])
        return pd.concat(frames, ignore_index=True)


def _cross_validate(models: list, df: pd.DataFrame, config: ForecastConfig) -> pd.DataFrame:
    """statsforecast's cross-validation of ``models``; with ``config.refit`` off, the models in
    ``ROLL_FORWARD`` are fitted once and rolled forward, the others at every origin, in a
    second call on the same series."""
    rolled = [m for m in models if repr(m) in ROLL_FORWARD]
    if config.refit or not rolled or len(rolled) == len(models):
        return _run(models, df, replace(config, refit=config.refit or not rolled), backtest=True)
    refitted = [m for m in models if repr(m) not in ROLL_FORWARD]
    first = _run(rolled, df, config, backtest=True)
    second = _run(refitted, df, replace(config, refit=True), backtest=True)
    keys = ["unique_id", "ds", "cutoff"]
    if not first[keys].equals(second[keys]):
        raise RuntimeError("cross-validation calls returned different series or dates")
    return pd.concat([first, second.drop(columns=[*keys, "y"])], axis=1)


SCREEN_MIN_SHARE = 0.01  # a candidate chosen for fewer of the screened series is dropped


def _backtest_chunks(
    df: pd.DataFrame,
    ids: list,
    demand_class: str,
    n_obs: int,
    config: ForecastConfig,
    rows: dict,
    counts: pd.Series,
    trained: dict[str, GlobalQuantileGBM],
    keep: set[str] | None = None,
) -> list[_ClassBacktest]:
    """Cross-validate the class's candidates (those in ``keep`` if given) on ``ids``;
    ``rows`` holds each series' row positions in ``df``, ``counts`` its ``count_valued``.
    ``trained``: the global models by name (``GlobalQuantileGBM``), trained once for every
    class and chunk."""
    chunks = []
    for start in range(0, len(ids), CHUNK_SERIES):
        part = _series_rows(df, rows, ids[start : start + CHUNK_SERIES])
        models = [
            trained.get(repr(m), m)
            for m in candidate_models(demand_class, config.horizon, config.season_length, n_obs)
            if keep is None or repr(m) in keep
        ]
        cv = _cross_validate(models, part, config)
        dispersion = _row_dispersion(part, cv, "cutoff", counts, config)
        chunks.append(
            _ClassBacktest(
                demand_class,
                cv["unique_id"].to_numpy(object),
                cv["cutoff"].to_numpy(),
                (cv.groupby(["unique_id", "cutoff"]).cumcount() + 1).to_numpy(np.int16),
                cv["y"].to_numpy(np.float32),
                counts.reindex(cv["unique_id"].to_numpy()).to_numpy(bool),
                {repr(m): _intervals(cv, repr(m), dispersion) for m in models},
            )
        )
    return chunks


def _series_rows(df: pd.DataFrame, rows: dict, ids: list) -> pd.DataFrame:
    """The rows of series ``ids``, in ``df``'s order; ``rows``: each series' row positions."""
    return df.iloc[np.sort(np.concatenate([rows[i] for i in ids]))]


def _score_class(
    chunks: list[_ClassBacktest], scale: pd.Series, config: ForecastConfig
) -> tuple[pd.DataFrame, Calibration]:
    """Per series and model the scaled pinball on calibrated quantiles; the calibration of
    each model pooled over every series back-tested with it. Where a chunk holds every
    ensemble member, the ``ENSEMBLE`` candidate (their calibrated intervals averaged) is added
    to it and scored, calibrated on top, the same way."""
    demand_class = chunks[0].demand_class
    members = ensemble_members(demand_class)
    names = list(dict.fromkeys(n for c in chunks for n in c.intervals if n != ENSEMBLE))
    calibration: Calibration = {}
    frames = []

    def score(name: str) -> None:
        having = [c for c in chunks if name in c.intervals]
        codes, uniques = pd.factorize(np.concatenate([c.unique_id for c in having]))
        y = np.concatenate([c.y for c in having]).astype(float)
        counts = np.concatenate([c.counts for c in having])
        intervals = np.concatenate([c.intervals[name] for c in having])
        key = (demand_class, name)
        if config.calibrate:
            calibration[key] = (
                level_scales(y[~counts], intervals[~counts]) if (~counts).any() else {}
            )
            if counts.any():
                calibration[key][COUNT_SD] = count_spread(y[counts], intervals[counts])
        loss = pinball(y, _quantiles(intervals, calibration.get(key), counts))
        mean_loss = np.bincount(codes, weights=loss) / np.bincount(codes)
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": uniques,
                    "model": name,
                    "scaled_pinball": mean_loss / scale.reindex(uniques).to_numpy(),
                }
            )
        )

    for name in names:
        score(name)
    complete = [c for c in chunks if members and all(m in c.intervals for m in members)]
    for chunk in complete:
        chunk.intervals[ENSEMBLE] = _average(
            [chunk.intervals[m] for m in members],
            [calibration.get((demand_class, m)) for m in members],
        )
    if complete:
        score(ENSEMBLE)
    return pd.concat(frames, ignore_index=True), calibration


def _calibrated(intervals: np.ndarray, level_scales: dict[int | str, float] | None) -> np.ndarray:
    """``_intervals`` (a copy, same dtype) with each level's half-widths multiplied by its
    scale."""
    out = intervals.copy()
    center = out[:, :1]
    for k, level in enumerate(LEVELS):
        bounds = out[:, 1 + 2 * k : 3 + 2 * k]
        out[:, 1 + 2 * k : 3 + 2 * k] = center + (level_scales or {}).get(level, 1.0) * (
            bounds - center
        )
    return out


def _average(
    intervals: list[np.ndarray], scales: list[dict[int | str, float] | None]
) -> np.ndarray:
    """The members' calibrated means and interval bounds averaged: quantile averaging
    (Vincentization), whose pinball loss is at most the members' average."""
    return np.mean([_calibrated(i, s) for i, s in zip(intervals, scales, strict=True)], axis=0)


def _global_models(training: pd.DataFrame, config: ForecastConfig) -> dict:
    """The global candidates by name, learning from ``training`` (every class's series)."""
    model = GlobalQuantileGBM(config.season_length, training=training)
    return {repr(model): model}


def backtest(df: pd.DataFrame, config: ForecastConfig) -> Backtest:
    """Cross-validate each class's candidates, ``CHUNK_SERIES`` series per call (see
    ``ForecastConfig.screen_series`` for classes of many series).

    Scores use the calibrated intervals, so models compete on calibrated quantiles. Series
    shorter than ``horizon x (n_windows + 2) + 2`` buckets are not back-tested.
    """
    if (df["y"] < 0).any():
        bad = df[df["y"] < 0].iloc[0]
        raise ValueError(
            f"demand must be >= 0 units per bucket: series {bad['unique_id']!r} has y = "
            f"{bad['y']} at {bad['ds']}"
        )
    classes = classify(df)
    lengths = df.groupby("unique_id").size()
    min_length = config.horizon * (config.n_windows + 2) + 2
    scale = series_scale(df)
    counts = count_valued(df, config)
    rows = df.groupby("unique_id", sort=False).indices
    runs: list[_ClassBacktest] = []
    calibration: Calibration = {}
    scores = []
    long_enough = df["unique_id"].map(lengths).to_numpy() >= min_length
    trained = _global_models(df[long_enough], config)
    for demand_class, ids in classes.groupby("demand_class")["unique_id"]:
        ids = [i for i in ids if lengths[i] >= min_length]
        if not ids:
            continue
        n_obs = int(lengths[ids].min())
        every = -(-len(ids) // config.screen_series) if config.screen_series else 1
        sample = ids[::every]
        chunks = _backtest_chunks(df, sample, demand_class, n_obs, config, rows, counts, trained)
        if every > 1:
            sample_scores, _ = _score_class(chunks, scale, config)
            chosen = choose_models(_series_rows(df, rows, sample), sample_scores)
            share = chosen["model"].value_counts(normalize=True)
            keep = set(share[share >= SCREEN_MIN_SHARE].index)
            if ENSEMBLE in keep:
                keep |= set(ensemble_members(demand_class))
            rest = sorted(set(ids) - set(sample))
            chunks += _backtest_chunks(
                df, rest, demand_class, n_obs, config, rows, counts, trained, keep
            )
        class_scores, class_calibration = _score_class(chunks, scale, config)
        scores.append(class_scores)
        calibration.update(class_calibration)
        runs += chunks
    score = (
        pd.concat(scores, ignore_index=True)
        if scores
        else pd.DataFrame(columns=["unique_id", "model", "scaled_pinball"])
    )
    return Backtest(score, calibration, runs)


def choose_models(df: pd.DataFrame, scores: pd.DataFrame, margin: float = 0.5) -> pd.DataFrame:
    """Model per series by back-test scaled pinball, shrunk towards its class.

    A few back-test points per series make the per-series winner noisy, so each series takes
    its class's best model (lowest pooled scaled pinball over the class) unless its own best
    beats that by more than ``margin`` (50%). On car parts, with the Ensemble among the
    candidates: margin 0.3 -> 0.5568 scaled 13-level pinball, 0.5 -> 0.5490, 1.0 (class only) -> 0.5476.
    Series too short to back-test get the default model.
    """
    classes = classify(df)
    if scores.empty:
        chosen = classes.assign(model=np.nan, scaled_pinball=np.nan)
    else:
        scored = scores.merge(classes[["unique_id", "demand_class"]], on="unique_id")
        # the class's model is judged pooled, i.e. on unscaled loss: series weigh by their volume
        scored["weight"] = scored["unique_id"].map(series_scale(df)).to_numpy()
        scored["pooled"] = scored["scaled_pinball"] * scored["weight"]
        class_mean = scored.groupby(["demand_class", "model"], as_index=False)[
            ["pooled", "weight"]
        ].sum()
        class_mean["scaled_pinball"] = class_mean["pooled"] / class_mean["weight"]
        class_best = class_mean.sort_values(
            ["demand_class", "scaled_pinball", "model"]
        ).drop_duplicates("demand_class")
        own = scored.sort_values(["unique_id", "scaled_pinball", "model"]).drop_duplicates(
            "unique_id"
        )
        at_class = scored.merge(class_best[["demand_class", "model"]], on=["demand_class", "model"])
        pick = own.merge(
            at_class[["unique_id", "model", "scaled_pinball"]].rename(
                columns={"model": "class_model", "scaled_pinball": "class_pinball"}
            ),
            on="unique_id",
            how="left",
        )
        keep_own = pick["class_model"].isna() | (
            pick["scaled_pinball"] < (1 - margin) * pick["class_pinball"]
        )
        pick["model"] = np.where(keep_own, pick["model"], pick["class_model"])
        pick["scaled_pinball"] = np.where(keep_own, pick["scaled_pinball"], pick["class_pinball"])
        chosen = classes.merge(
            pick[["unique_id", "model", "scaled_pinball"]], on="unique_id", how="left"
        )
    chosen["selected_by"] = np.where(
        chosen["model"].isna(), "default (too short to back-test)", "backtest"
    )
    chosen["model"] = chosen["model"].fillna(DEFAULT_MODEL)
    return chosen


def forecast(
    df: pd.DataFrame,
    chosen: pd.DataFrame,
    config: ForecastConfig,
    calibration: Calibration | None = None,
) -> pd.DataFrame:
    """Forecast each series with its chosen model: unique_id, ds, step, mean, sd (``_sd``),
    model, quantiles (units per bucket)."""
    lengths = df.groupby("unique_id").size()
    counts = count_valued(df, config)
    frames = []
    calibration = calibration or {}
    trained = _global_models(df, config)
    for (demand_class, name), ids in chosen.groupby(["demand_class", "model"])["unique_id"]:
        part = df[df["unique_id"].isin(ids)]
        members = ensemble_members(demand_class) if name == ENSEMBLE else (name,)
        n_obs = int(lengths[list(ids)].min())
        models = [
            trained.get(m) or model_by_name(m, config.horizon, config.season_length, n_obs)
            for m in members
        ]
        fc = _run(models, part, config, backtest=False)
        last = part.groupby("unique_id", sort=False)["ds"].max()
        dispersion = _row_dispersion(
            part,
            pd.DataFrame(
                {
                    "unique_id": fc["unique_id"].to_numpy(),
                    "last": fc["unique_id"].map(last).to_numpy(),
                }
            ),
            "last",
            counts,
            config,
        )
        intervals = _average(
            [_intervals(fc, m, dispersion) for m in members],
            [calibration.get((demand_class, m)) if name == ENSEMBLE else None for m in members],
        )
        level_scales = calibration.get((demand_class, name))
        row_counts = counts.reindex(fc["unique_id"].to_numpy()).to_numpy(bool)
        q = _quantiles(intervals, level_scales, row_counts)
        frame = pd.DataFrame(
            {
                "unique_id": fc["unique_id"].to_numpy(),
                "ds": fc["ds"].to_numpy(),
                "mean": np.clip(intervals[:, 0].astype(float), 0, None),
                "sd": _sd(intervals, level_scales, row_counts, floor_counts=True),
                "model": name,
                **{QCOLS[k]: q[:, k] for k in range(len(QUANTILES))},
            }
        )
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True).sort_values(["unique_id", "ds"], ignore_index=True)
    out["step"] = out.groupby("unique_id").cumcount() + 1
    return out


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


def level_scales(y: np.ndarray, intervals: np.ndarray) -> dict[int, float]:
    """Per interval level, the half-width multiplier that makes the ``_intervals`` cover that
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
    """The multiplier of ``_sd`` (from SPREAD_GRID) whose count quantiles have the lowest
    pinball loss on the back-test actuals ``y``, on up to SPREAD_SAMPLE evenly spread points:
    the count distribution's spread calibrated by the score it is judged on."""
    rows = np.linspace(0, len(y) - 1, min(len(y), SPREAD_SAMPLE)).astype(int)
    y, intervals = y[rows], intervals[rows]
    mean = intervals[:, 0].astype(float)
    sd = _sd(intervals, None, None)
    loss = [pinball(y, count_quantiles(mean, sd * k, QUANTILES)).mean() for k in SPREAD_GRID]
    return float(SPREAD_GRID[int(np.argmin(loss))])


def error_correlation(errors: pd.DataFrame, chosen: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Per demand class and k: variance of the k-bucket sum of errors over the sum of the k
    per-bucket error variances (1 for independent errors; > 1 when errors persist)."""
    picked = errors.merge(chosen[["unique_id", "model", "demand_class"]], on=["unique_id", "model"])
    rows = []
    if picked.empty:
        return pd.DataFrame(
            {"demand_class": "all", "k": np.arange(1, horizon + 1), "variance_ratio": 1.0}
        )
    picked = picked.sort_values(["unique_id", "cutoff", "step"])
    picked["e"] = picked["y"] - picked["point"]
    picked["e_sum"] = picked.groupby(["unique_id", "cutoff"])["e"].cumsum()
    picked["e_sq_sum"] = (
        (picked["e"] ** 2).groupby([picked["unique_id"], picked["cutoff"]]).cumsum()
    )
    for demand_class, part in [("all", picked), *picked.groupby("demand_class")]:
        by_k = part.groupby("step").agg(
            num=("e_sum", lambda s: float((s**2).mean())), den=("e_sq_sum", "mean")
        )
        ratio = (
            (by_k["num"] / by_k["den"].replace(0, np.nan)).fillna(1.0).clip(0.25, float(horizon))
        )
        rows.append(
            pd.DataFrame(
                {
                    "demand_class": demand_class,
                    "k": by_k.index.to_numpy(),
                    "variance_ratio": ratio.to_numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def lead_time_demand(
    fc: pd.DataFrame,
    chosen: pd.DataFrame,
    correlation: pd.DataFrame,
    bucket_days: int,
    max_days: int | None = None,
) -> pd.DataFrame:
    """Mean and sd of demand summed over the next 1..max_days days, per series (units).

    Per-bucket sd is the forecast's (``_sd``); the sd of a k-bucket sum is
    sqrt(sum of per-bucket variances x variance_ratio(k)) with the ratio measured on the
    model's own back-test errors (not assumed to be 1). Fractional buckets interpolate the
    cumulative mean and variance linearly.
    """
    fc = fc.sort_values(["unique_id", "step"])
    ids = fc["unique_id"].unique()
    horizon = int(fc["step"].max())
    mean = fc["mean"].to_numpy(float).reshape(len(ids), horizon)
    sd = fc["sd"].to_numpy(float).reshape(len(ids), horizon)
    classes = chosen.set_index("unique_id").loc[ids, "demand_class"].to_numpy()
    ratio = np.ones((len(ids), horizon))
    for demand_class in np.unique(classes):
        part = correlation[correlation["demand_class"] == demand_class]
        if part.empty:
            part = correlation[correlation["demand_class"] == "all"]
        values = (
            part.set_index("k")["variance_ratio"]
            .reindex(range(1, horizon + 1))
            .ffill()
            .fillna(1.0)
            .to_numpy()
        )
        ratio[classes == demand_class] = values
    cum_mean = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(mean, axis=1)], axis=1)
    cum_var = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(sd**2, axis=1) * ratio], axis=1)
    cum_var = np.maximum.accumulate(cum_var, axis=1)  # a longer lead time never has less spread
    max_days = max_days or horizon * bucket_days
    days = np.arange(1, max_days + 1)
    buckets = np.minimum(days / bucket_days, horizon)
    lower = np.floor(buckets).astype(int)
    upper = np.minimum(lower + 1, horizon)
    frac = buckets - lower
    m = cum_mean[:, lower] * (1 - frac) + cum_mean[:, upper] * frac
    v = cum_var[:, lower] * (1 - frac) + cum_var[:, upper] * frac
    return pd.DataFrame(
        {
            "unique_id": np.repeat(ids, len(days)),
            "periods": np.tile(days, len(ids)),
            "mean": m.reshape(-1),
            "sd": np.sqrt(v).reshape(-1),
        }
    )
