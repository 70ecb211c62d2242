"""The forecast's settings and the quantile levels it publishes."""

from __future__ import annotations

from dataclasses import dataclass

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
    # 1,000 since session 21: on car parts' validation window (2,172 intermittent series)
    # CRPS-99 0.7940 with 2,000, 1,000 or 500, selection 29.2 / 23.4 / 20.3 s
    screen_series: int | None = setting(
        1_000,
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
    # 0.8022 / 0.8067 / 0.8058 with 12 / 24 / 36 months; docs/performance.md). Re-measured in
    # session 24 with the global model among the candidates: the selection's CRPS-99 0.7940 /
    # 0.7922 / 0.7921; not changed for 0.2% on one window (variations of the global model that
    # moved it 0.3% were left as noise in session 19)
    count_dispersion_buckets: int | None = setting(
        None,
        unit="buckets",
        doc="spread of count series: variance / mean of this many latest buckets (>= 1) times "
        "the model's mean, calibrated on the back-test; None: one season; 0: the model's width",
        low=0,
    )
    selection_cadence_days: int = setting(
        7,
        unit="days",
        doc="back-test and choose models again once the last selection is this old; between, "
        "each series' chosen model is refit on the new data (0: select on every run)",
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
