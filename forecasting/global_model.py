"""A global forecasting model: one LightGBM per quantile level, trained across many series.

Local models (Croston, IMAPA, Theta) see one short, mostly-zero history each; a global model
learns how demand that looked like this one's went on, from every series of the class. Each
training row is a (series, origin, step): features of the history up to the origin, scaled by
the series' recent mean (so one tree serves slow and fast movers), the target ``step`` buckets
later in the same scale. Direct strategy: the step is a feature, one model per level for
every step (no predictions fed back as lags).

The forecast is a distribution summarised as the engine's other candidates are: its mean is
the average of ten quantiles at the mid-points 0.05, 0.15, .., 0.95 (a quadrature of the
quantile function, robust to the single large order that drags a least-squares mean), its
spread their standard deviation; the engine then gives count series their negative binomial
(``distributions.counts``) and calibrates widths on the back-test like any model. Chosen on
car parts' validation window (benchmarks/carparts.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtri

GLOBAL_MODEL = "GlobalLightGBM"
MID_LEVELS = tuple(round(0.05 + 0.1 * k, 2) for k in range(10))  # quantile levels fitted
LAGS = 12  # buckets of history given one by one
WINDOWS = (3, 6, 12, 24)  # buckets of the rolling means
MIN_HISTORY = 12  # buckets before the first training origin
MIN_KNOWN = 3  # buckets of its own history a series needs at an origin to make a training row
SCALE_BUCKETS = 24  # buckets of the series' scale (recent mean demand)
SCALE_FLOOR = 0.1  # units per bucket: the scale of a series without recent demand


@dataclass
class GlobalQuantileGBM:
    """The global candidate. It learns from ``training`` (unique_id, ds, y; default: the
    series it is asked to forecast), at most ``max_train_series`` of them evenly spread, and
    forecasts any series from its own history. Trained models are kept per back-test window
    and for the final forecast, so every class and chunk reuses one training."""

    season_length: int
    training: pd.DataFrame | None = field(default=None, repr=False)
    max_train_series: int = 20_000
    # (series, origin, step) rows sampled per fit, trees per level and their learning rate:
    # on car parts' validation window 100 k / 100 / 0.1 scored 0.7938 CRPS-99 in 7.0 s against
    # 0.7925 in 28.9 s for 250 k / 200 / 0.05 (one training, 2 cores); 50 trees at 0.2 then
    # scored as 100 at 0.1 (the selection 0.7940 vs 0.7945, the global model alone 0.7942 in
    # both) for half the training and prediction (2,000 items: 48 of 160 s were predictions)
    max_train_rows: int = 100_000
    n_estimators: int = 50
    learning_rate: float = 0.2
    num_leaves: int = 31
    min_child_samples: int = 50
    seed: int = 0
    _fitted: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:  # the engine names candidates by repr, as statsforecast does
        return GLOBAL_MODEL

    def cross_validate(
        self,
        df: pd.DataFrame,
        freq: str,
        horizon: int,
        n_windows: int,
        levels: tuple[int, ...],
        n_jobs: int,
    ) -> pd.DataFrame:
        """statsforecast's ``cross_validation`` layout (unique_id, ds, cutoff, y, model, lo/hi
        per level) for ``n_windows`` origins ``horizon`` apart, each trained only on what was
        known at its cutoff. ``freq``: the buckets' statsforecast frequency ('D', 'W-<day>'
        or 'MS', as ``forecasting.running.statsforecast_freq`` gives it)."""
        history = _History.of(df, self.season_length, freq)
        frames = []
        for window in range(n_windows):
            held_back = horizon * (n_windows - window)
            observed = history.length - held_back
            models = self._trained(df, freq, held_back, horizon, n_jobs)
            quantiles = self._predict(models, history, observed, horizon)
            frame = history.frame(observed, horizon, quantiles, levels)
            frame.insert(2, "cutoff", np.repeat(history.dates(observed - 1, 1)[:, 0], horizon))
            frame.insert(3, "y", history.values[:, observed : observed + horizon].ravel())
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        out = out[out["y"].notna()]  # a series starting after the origin has no such point
        return out.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)

    def forecast(
        self, df: pd.DataFrame, freq: str, horizon: int, levels: tuple[int, ...], n_jobs: int
    ) -> pd.DataFrame:
        """statsforecast's ``forecast`` layout: the next ``horizon`` buckets of every series."""
        history = _History.of(df, self.season_length, freq)
        models = self._trained(df, freq, 0, horizon, n_jobs)
        quantiles = self._predict(models, history, history.length, horizon)
        frame = history.frame(history.length, horizon, quantiles, levels)
        return frame.sort_values(["unique_id", "ds"], ignore_index=True)

    def _trained(
        self, df: pd.DataFrame, freq: str, held_back: int, horizon: int, n_jobs: int
    ) -> list:
        """The quantile models trained on the training series without their last
        ``held_back`` buckets (kept once trained)."""
        key = (held_back, horizon)
        if key not in self._fitted:
            frame = df if self.training is None else self.training
            ids = np.sort(frame["unique_id"].unique())
            if len(ids) > self.max_train_series:
                keep = ids[:: -(-len(ids) // self.max_train_series)]
                frame = frame[frame["unique_id"].isin(keep)]
            history = _History.of(frame, self.season_length, freq)
            self._fitted[key] = self._train(history, history.length - held_back, horizon, n_jobs)
        return self._fitted[key]

    def _train(self, history: _History, observed: int, horizon: int, n_jobs: int) -> list:
        # LightGBM's OpenMP (libgomp) threads spin ~300,000 times while they wait; beside
        # another busy process (a second pipeline, test workers) a car-parts forecast took
        # 53.7 s instead of 7.4 s. 1,000 spins (libgomp's own count when it knows it is
        # oversubscribed): 8.9 s alone, 14.8 s side by side; OMP_WAIT_POLICY=PASSIVE: 17 / 12 s;
        # one thread: 11.2 / 11.1 s (2 cores, same figures in every case). Read when LightGBM
        # loads the runtime, so set before the import; a value already set is kept.
        os.environ.setdefault("GOMP_SPINCOUNT", "1000")
        import lightgbm as lgb

        rng = np.random.default_rng(self.seed)
        origins = np.arange(MIN_HISTORY, observed)
        total = sum(min(horizon, observed - c) for c in origins) * history.n_series
        share = min(1.0, self.max_train_rows / max(total, 1))
        features, targets = [], []
        for origin in origins:
            steps = range(1, min(horizon, observed - origin) + 1)
            picks = rng.random((len(steps), history.n_series)) < share
            union = np.flatnonzero(picks.any(axis=0))
            union = union[history.counts[union, origin] >= MIN_KNOWN]
            if not len(union):
                continue
            base, scale = history.features(union, origin)
            for k, h in enumerate(steps):
                chosen = picks[k, union]
                target = history.values[union[chosen], origin + h - 1] / scale[chosen]
                known = ~np.isnan(target)
                rows = union[chosen][known]
                features.append(history.with_step(base[chosen][known], rows, origin, h))
                targets.append(target[known])
        if not features:
            raise ValueError(
                f"{GLOBAL_MODEL} has no training rows: it needs series with more than "
                f"{MIN_HISTORY} buckets before the forecast origin ({observed} given)"
            )
        data = lgb.Dataset(np.vstack(features), np.concatenate(targets))
        models = []
        for level in MID_LEVELS:
            params = {
                "objective": "quantile",
                "alpha": level,
                "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples,
                "seed": self.seed,
                "deterministic": True,
                "force_row_wise": True,
                "num_threads": n_jobs,
                "verbose": -1,
            }
            models.append(lgb.train(params, data, num_boost_round=self.n_estimators))
        return models

    def _predict(self, models: list, history: _History, observed: int, horizon: int) -> np.ndarray:
        """(series x horizon, len(MID_LEVELS)) quantiles in units, rows by series then step."""
        rows = np.arange(history.n_series)
        base, scale = history.features(rows, observed)
        x = np.vstack(
            [history.with_step(base, rows, observed, h) for h in range(1, horizon + 1)]
        )  # step-major
        q = np.column_stack([m.predict(x) for m in models]) * np.tile(scale, horizon)[:, None]
        q = np.maximum.accumulate(np.clip(q, 0.0, None), axis=1)
        return q.reshape(horizon, history.n_series, -1).transpose(1, 0, 2).reshape(-1, q.shape[1])


@dataclass
class _History:
    """The series right-aligned in one matrix (NaN before a series starts), with cumulative
    sums for the rolling features."""

    ids: np.ndarray
    values: np.ndarray  # (series, buckets) units per bucket
    last: np.ndarray  # datetime64 of each series' last bucket
    step: pd.DateOffset  # one bucket
    season_length: int
    season_of_last: np.ndarray  # season position (0 .. season_length - 1) of the last bucket
    sums: np.ndarray = field(init=False, repr=False)
    counts: np.ndarray = field(init=False, repr=False)
    nonzero: np.ndarray = field(init=False, repr=False)
    squares: np.ndarray = field(init=False, repr=False)
    last_positive: np.ndarray = field(init=False, repr=False)  # [:, c]: last bucket < c with demand

    def __post_init__(self) -> None:
        known = ~np.isnan(self.values)
        filled = np.where(known, self.values, 0.0)
        zero = np.zeros((self.n_series, 1))
        self.sums = np.hstack([zero, filled.cumsum(axis=1)])
        self.squares = np.hstack([zero, (filled**2).cumsum(axis=1)])
        self.counts = np.hstack([zero, known.cumsum(axis=1)])
        self.nonzero = np.hstack([zero, (filled > 0).cumsum(axis=1)])
        position = np.where(filled > 0, np.arange(self.values.shape[1]), -1)
        self.last_positive = np.hstack(
            [np.full((self.n_series, 1), -1), np.maximum.accumulate(position, axis=1)]
        )

    @classmethod
    def of(cls, df: pd.DataFrame, season_length: int, freq: str) -> _History:
        codes, ids = pd.factorize(df["unique_id"], sort=True)
        ds = pd.to_datetime(df["ds"])
        last = ds.groupby(codes).max().to_numpy()
        step = pd.tseries.frequencies.to_offset(freq)
        if freq == "MS":
            behind = last[codes].astype("datetime64[M]") - ds.to_numpy().astype("datetime64[M]")
            behind = behind.astype(int)
        else:
            bucket = np.timedelta64(1 if freq == "D" else 7, "D")
            behind = ((last[codes] - ds.to_numpy()) / bucket).astype(int)
        length = int(behind.max()) + 1
        values = np.full((len(ids), length), np.nan)
        values[codes, length - 1 - behind] = df["y"].to_numpy(float)
        last_ts = pd.DatetimeIndex(last)
        if season_length == 12:
            season = last_ts.month.to_numpy() - 1
        elif season_length == 7:
            season = last_ts.dayofweek.to_numpy()
        else:
            season = np.minimum(
                (last_ts.dayofyear.to_numpy() - 1) * season_length // 365, season_length - 1
            )
        return cls(np.asarray(ids), values, last, step, season_length, season)

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def length(self) -> int:
        return self.values.shape[1]

    def features(self, rows: np.ndarray, origin: int) -> tuple[np.ndarray, np.ndarray]:
        """Features of ``rows`` from buckets before ``origin`` (scaled by the series' scale),
        and that scale (units per bucket)."""

        def window_mean(table: np.ndarray, width: int) -> np.ndarray:
            low = max(origin - width, 0)
            n = self.counts[rows, origin] - self.counts[rows, low]
            with np.errstate(invalid="ignore", divide="ignore"):
                return (table[rows, origin] - table[rows, low]) / np.where(n > 0, n, np.nan)

        scale = np.nan_to_num(window_mean(self.sums, SCALE_BUCKETS), nan=0.0)
        scale = np.maximum(scale, SCALE_FLOOR)
        lags = self.values[rows, max(origin - LAGS, 0) : origin][:, ::-1]
        if lags.shape[1] < LAGS:
            lags = np.hstack([lags, np.full((len(rows), LAGS - lags.shape[1]), np.nan)])
        columns = [lags / scale[:, None]]
        columns += [window_mean(self.sums, w)[:, None] / scale[:, None] for w in WINDOWS]
        columns.append(window_mean(self.sums, origin)[:, None] / scale[:, None])
        columns += [window_mean(self.nonzero, w)[:, None] for w in (12, 24)]
        mean_24 = window_mean(self.sums, 24)
        variance = window_mean(self.squares, 24) - mean_24**2
        columns.append(np.sqrt(np.clip(variance, 0.0, None))[:, None] / scale[:, None])
        last_positive = self.last_positive[rows, origin]
        since = np.where(last_positive >= 0, origin - 1 - last_positive, origin)
        columns.append(since[:, None].astype(float))
        columns.append(np.log(scale)[:, None])
        return np.hstack(columns), scale

    def with_step(self, base: np.ndarray, rows: np.ndarray, origin: int, step: int) -> np.ndarray:
        """``base`` features plus the step and the target bucket's season position."""
        behind = self.length - origin - step + 1  # buckets from the target back to the last
        season = (self.season_of_last[rows] - (behind - 1)) % self.season_length
        extra = np.column_stack([np.full(len(rows), step, float), season.astype(float)])
        return np.hstack([base, extra])

    def dates(self, column: int, horizon: int) -> np.ndarray:
        """(series, horizon) dates of buckets ``column`` .. ``column + horizon - 1``."""
        out = np.empty((self.n_series, horizon), dtype="datetime64[ns]")
        for k in range(horizon):
            shift = column + k - (self.length - 1)  # buckets after each series' last
            out[:, k] = (pd.DatetimeIndex(self.last) + shift * self.step).to_numpy()
        return out

    def frame(
        self, observed: int, horizon: int, quantiles: np.ndarray, levels: tuple[int, ...]
    ) -> pd.DataFrame:
        """The forecast rows after ``observed`` buckets: mean and symmetric bounds per level
        from the quantiles' average and standard deviation (units per bucket)."""
        mean = quantiles.mean(axis=1)
        sd = quantiles.std(axis=1)
        out = {
            "unique_id": np.repeat(self.ids, horizon),
            "ds": self.dates(observed, horizon).ravel(),
            GLOBAL_MODEL: mean,
        }
        for level in levels:
            z = float(ndtri(0.5 + level / 200))
            out[f"{GLOBAL_MODEL}-lo-{level}"] = mean - z * sd
            out[f"{GLOBAL_MODEL}-hi-{level}"] = mean + z * sd
        return pd.DataFrame(out)
