"""Probabilistic demand forecasts per series: back-test the candidates, choose per series,
forecast calibrated quantiles.

Input: a long frame ``unique_id, ds, y`` of demand per planning bucket (units per bucket).
Models are chosen per series by rolling-origin cross-validation on the scaled pinball loss
averaged over the 13 QUANTILES (a tail-weighted quantile score, not a CRPS: 12 of its levels
are at or below 0.2 or at or above 0.8; ``forecasting.metrics`` has the CRPS). Running the
models: ``forecasting.running``; from intervals to calibrated quantiles:
``forecasting.calibration``; lead-time demand: ``forecasting.lead_time``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecasting.calibration import (
    COUNT_SD,
    Calibration,
    average_intervals,
    calibrated_quantiles,
    count_spread,
    count_valued,
    forecast_sd,
    interval_matrix,
    level_scales,
    row_dispersion,
)
from forecasting.config import QCOLS, QUANTILES, ForecastConfig
from forecasting.global_model import GLOBAL_MODEL, GlobalQuantileGBM
from forecasting.metrics import pinball, series_scale
from forecasting.models import (
    DEFAULT_MODEL,
    ENSEMBLE,
    ROLL_FORWARD,
    candidate_models,
    classify,
    ensemble_members,
    model_by_name,
)
from forecasting.running import run_models

MIN_CLASS_SERIES = (
    50  # a smaller class chooses its model on every class's back-test (choose_models)
)
CHUNK_SERIES = 5_000  # series cross-validated per statsforecast call (bounds its frames' memory)

Progress = Callable[[str], None]  # told how far a long step is (a logger's info)


@dataclass
class _ClassBacktest:
    """One demand class's back-test, kept compact: one row per series x origin x step."""

    demand_class: str
    unique_id: np.ndarray  # object
    cutoff: np.ndarray  # datetime64
    step: np.ndarray  # int16, buckets after the origin
    y: np.ndarray  # float32, actual demand (units per bucket)
    counts: np.ndarray  # bool, the series is counted in whole units (``count_valued``)
    intervals: dict[str, np.ndarray]  # model -> ``interval_matrix`` (float32)


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
                q = calibrated_quantiles(
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
        return run_models(
            models, df, replace(config, refit=config.refit or not rolled), backtest=True
        )
    refitted = [m for m in models if repr(m) not in ROLL_FORWARD]
    first = run_models(rolled, df, config, backtest=True)
    second = run_models(refitted, df, replace(config, refit=True), backtest=True)
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
        dispersion = row_dispersion(part, cv, "cutoff", counts, config)
        chunks.append(
            _ClassBacktest(
                demand_class,
                cv["unique_id"].to_numpy(object),
                cv["cutoff"].to_numpy(),
                (cv.groupby(["unique_id", "cutoff"]).cumcount() + 1).to_numpy(np.int16),
                cv["y"].to_numpy(np.float32),
                counts.reindex(cv["unique_id"].to_numpy()).to_numpy(bool),
                {repr(m): interval_matrix(cv, repr(m), dispersion) for m in models},
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
        loss = pinball(y, calibrated_quantiles(intervals, calibration.get(key), counts))
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
        chunk.intervals[ENSEMBLE] = average_intervals(
            [chunk.intervals[m] for m in members],
            [calibration.get((demand_class, m)) for m in members],
        )
    if complete:
        score(ENSEMBLE)
    return pd.concat(frames, ignore_index=True), calibration


def _global_models(training: pd.DataFrame, config: ForecastConfig) -> dict:
    """The global candidates by name, learning from ``training`` (every class's series)."""
    model = GlobalQuantileGBM(config.season_length, training=training)
    return {repr(model): model}


def backtest(
    df: pd.DataFrame, config: ForecastConfig, progress: Progress | None = None
) -> Backtest:
    """Cross-validate each class's candidates, ``CHUNK_SERIES`` series per call (see
    ``ForecastConfig.screen_series`` for classes of many series). ``progress`` is told after
    each class how many series are back-tested.

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
    total, done = int((lengths >= min_length).sum()), 0
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
        done += len(ids)
        if progress:
            progress(f"back-test: {done:,} of {total:,} series ({demand_class} done)")
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
    beats that by more than ``margin`` (50%). Car parts' validation window (trained on months
    1-39, scored on 40-45, CRPS-99; session 24): margin 0.3 -> 0.7942 (360 series overridden),
    0.5 -> 0.7940 (241), 0.7 -> 0.7948, 0.9 -> 0.7945, 1.0 (class only) -> 0.7942: all within
    0.1%, 0.5 the lowest.
    A class of fewer than ``MIN_CLASS_SERIES`` back-tested series takes the global model where
    it is a candidate, for every series: a handful of back-test points cannot tell models apart,
    the global model learned from every class's series (on car parts' validation window the 15 smooth series'
    back-test picked DynamicOptimizedTheta, which lost 28% CRPS to the global model there).
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
        # a class of few series takes the global model, which learned from every class
        size = scored.groupby("demand_class")["unique_id"].nunique()
        small = class_mean["demand_class"].map(size).to_numpy() < MIN_CLASS_SERIES
        class_mean["rank"] = np.where(
            small & (class_mean["model"] == GLOBAL_MODEL), -np.inf, class_mean["scaled_pinball"]
        )
        class_best = class_mean.sort_values(["demand_class", "rank", "model"]).drop_duplicates(
            "demand_class"
        )
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
            (pick["scaled_pinball"] < (1 - margin) * pick["class_pinball"])
            & (pick["demand_class"].map(size).to_numpy() >= MIN_CLASS_SERIES)
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
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Forecast each series with its chosen model: unique_id, ds, step, mean, sd (``forecast_sd``),
    model, quantiles (units per bucket). ``progress`` is told after each class x model."""
    lengths = df.groupby("unique_id").size()
    counts = count_valued(df, config)
    frames = []
    calibration = calibration or {}
    trained = _global_models(df, config)
    done = 0
    for (demand_class, name), ids in chosen.groupby(["demand_class", "model"])["unique_id"]:
        part = df[df["unique_id"].isin(ids)]
        members = ensemble_members(demand_class) if name == ENSEMBLE else (name,)
        n_obs = int(lengths[list(ids)].min())
        models = [
            trained.get(m) or model_by_name(m, config.horizon, config.season_length, n_obs)
            for m in members
        ]
        fc = run_models(models, part, config, backtest=False)
        last = part.groupby("unique_id", sort=False)["ds"].max()
        dispersion = row_dispersion(
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
        intervals = average_intervals(
            [interval_matrix(fc, m, dispersion) for m in members],
            [calibration.get((demand_class, m)) if name == ENSEMBLE else None for m in members],
        )
        level_scales = calibration.get((demand_class, name))
        row_counts = counts.reindex(fc["unique_id"].to_numpy()).to_numpy(bool)
        q = calibrated_quantiles(intervals, level_scales, row_counts)
        frame = pd.DataFrame(
            {
                "unique_id": fc["unique_id"].to_numpy(),
                "ds": fc["ds"].to_numpy(),
                "mean": np.clip(intervals[:, 0].astype(float), 0, None),
                "sd": forecast_sd(intervals, level_scales, row_counts, floor_counts=True),
                "model": name,
                **{QCOLS[k]: q[:, k] for k in range(len(QUANTILES))},
            }
        )
        frames.append(frame)
        done += len(ids)
        if progress:
            progress(f"forecast: {done:,} of {len(chosen):,} series ({demand_class}, {name})")
    out = pd.concat(frames, ignore_index=True).sort_values(["unique_id", "ds"], ignore_index=True)
    out["step"] = out.groupby("unique_id").cumcount() + 1
    return out
