"""The global LightGBM candidate: statsforecast's layout, no look-ahead, learns across series."""

import numpy as np
import pandas as pd
import pytest
from statsforecast import StatsForecast
from statsforecast.models import HistoricAverage

from forecasting.config import LEVELS
from forecasting.global_model import GLOBAL_MODEL, GlobalQuantileGBM

HORIZON = 4


def poisson_series(rates: dict[str, float], weeks: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "ds": pd.date_range("2024-01-07", periods=weeks, freq="W-SUN"),
                    "y": rng.poisson(rate, weeks).astype(float),
                }
            )
            for uid, rate in rates.items()
        ],
        ignore_index=True,
    )


def small_model(**kwargs) -> GlobalQuantileGBM:
    return GlobalQuantileGBM(season_length=52, n_estimators=60, min_child_samples=20, **kwargs)


@pytest.fixture(scope="module")
def rates() -> dict[str, float]:
    return {f"s{i:02d}": r for i, r in enumerate(np.geomspace(0.2, 20, 40))}


def test_cross_validation_has_statsforecast_rows_and_columns(rates):
    df = poisson_series(rates)
    ours = small_model().cross_validate(df, "W-SUN", HORIZON, 2, LEVELS, n_jobs=1)
    theirs = StatsForecast(models=[HistoricAverage()], freq="W-SUN", n_jobs=1).cross_validation(
        h=HORIZON, df=df, n_windows=2, step_size=HORIZON, level=list(LEVELS)
    )
    keys = ["unique_id", "ds", "cutoff", "y"]
    pd.testing.assert_frame_equal(
        ours[keys].reset_index(drop=True),
        theirs[keys].astype({"unique_id": object}).reset_index(drop=True),
        check_dtype=False,
    )
    columns = {GLOBAL_MODEL} | {f"{GLOBAL_MODEL}-{s}-{lv}" for lv in LEVELS for s in ("lo", "hi")}
    assert columns <= set(ours.columns)
    assert (ours[f"{GLOBAL_MODEL}-lo-80"] <= ours[GLOBAL_MODEL]).all()
    assert (ours[GLOBAL_MODEL] <= ours[f"{GLOBAL_MODEL}-hi-80"]).all()


def test_a_back_test_window_never_sees_demand_after_its_cutoff(rates):
    df = poisson_series(rates)
    first_cutoff = np.sort(df["ds"].unique())[-2 * HORIZON - 1]
    changed = df.copy()
    later = changed["ds"] > first_cutoff
    changed.loc[later, "y"] = changed.loc[later, "y"] * 10 + 7  # a different future
    a = small_model().cross_validate(df, "W-SUN", HORIZON, 2, LEVELS, n_jobs=1)
    b = small_model().cross_validate(changed, "W-SUN", HORIZON, 2, LEVELS, n_jobs=1)
    window = a["cutoff"] == first_cutoff
    np.testing.assert_array_equal(a.loc[window, GLOBAL_MODEL], b.loc[window, GLOBAL_MODEL])
    # the second window does see the changed buckets before its own cutoff
    assert not np.allclose(a.loc[~window, GLOBAL_MODEL], b.loc[~window, GLOBAL_MODEL])


def test_mean_follows_each_series_rate_and_runs_are_identical(rates):
    df = poisson_series(rates, weeks=80)
    fc = small_model().forecast(df, "W-SUN", HORIZON, LEVELS, n_jobs=1)
    again = small_model().forecast(df, "W-SUN", HORIZON, LEVELS, n_jobs=1)
    pd.testing.assert_frame_equal(fc, again)
    mean = fc.groupby("unique_id")[GLOBAL_MODEL].mean()
    truth = pd.Series(rates)
    # one model for rates 0.2 .. 20 a week: within 25% of each rate above 3 a week (where a
    # 24-week sample mean is within 12% of the rate, one sd)
    fast = truth[truth > 3]
    relative = (mean[fast.index] - fast).abs() / fast
    assert relative.max() < 0.25, relative.sort_values().tail()
    assert fc["ds"].min() == df["ds"].max() + pd.Timedelta(weeks=1)


def test_training_series_differ_from_forecast_series(rates):
    """A model trained on a class's series forecasts series it never saw."""
    df = poisson_series(rates, weeks=80)
    train_ids = sorted(rates)[::2]
    model = small_model(training=df[df.unique_id.isin(train_ids)])
    unseen = df[~df.unique_id.isin(train_ids)]
    fc = model.forecast(unseen, "W-SUN", HORIZON, LEVELS, n_jobs=1)
    assert set(fc["unique_id"]) == set(unseen["unique_id"])
    mean = fc.groupby("unique_id")[GLOBAL_MODEL].mean()
    assert mean.corr(pd.Series(rates)[mean.index]) > 0.95


def test_history_too_short_to_train_on_is_refused_with_the_reason():
    df = poisson_series({"new_item": 2.0}, weeks=10)
    with pytest.raises(ValueError, match="GlobalLightGBM has no training rows.*more than 12"):
        small_model().forecast(df, "W-SUN", HORIZON, LEVELS, n_jobs=1)
