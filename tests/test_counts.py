"""Count-demand quantiles: negative binomial / Poisson against scipy, and their use per series."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import nbinom, poisson

from distributions.counts import count_quantiles
from forecasting.config import QCOLS, QUANTILES, ForecastConfig
from forecasting.engine import backtest, choose_models, forecast

PROBABILITIES = np.asarray(QUANTILES)


def scipy_quantiles(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    variance = np.maximum(sd**2, mean)
    over = variance > mean * (1 + 1e-9)
    size = np.where(over, mean**2 / np.where(over, variance - mean, 1.0), 1.0)
    p = (size / (size + mean))[:, None]
    return np.where(
        over[:, None],
        nbinom.ppf(PROBABILITIES[None, :], size[:, None], p),
        poisson.ppf(PROBABILITIES[None, :], mean[:, None]),
    )


def test_exact_below_a_mean_of_100_and_within_2_units_above():
    rng = np.random.default_rng(0)
    mean = np.exp(rng.uniform(np.log(0.01), np.log(5_000), 4_000))
    sd = np.sqrt(mean * np.exp(rng.uniform(np.log(0.5), np.log(100), 4_000)))
    got = count_quantiles(mean, sd, PROBABILITIES)
    expected = scipy_quantiles(mean, sd)
    small = mean < 100
    np.testing.assert_array_equal(got[small], expected[small])
    assert np.abs(got - expected).max() <= 2


def test_poisson_when_under_dispersed_and_zero_without_demand():
    got = count_quantiles(np.array([3.0, 0.0, 2.0]), np.array([0.5, 4.0, np.nan]), PROBABILITIES)
    np.testing.assert_array_equal(got[0], poisson.ppf(PROBABILITIES, 3.0))
    np.testing.assert_array_equal(got[1], 0.0)
    np.testing.assert_array_equal(got[2], poisson.ppf(PROBABILITIES, 2.0))


def weekly(values: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "ds": pd.date_range("2024-01-07", periods=len(v), freq="W-SUN"),
                    "y": v,
                }
            )
            for uid, v in values.items()
        ],
        ignore_index=True,
    )


def test_whole_unit_series_get_whole_unit_quantiles_others_keep_their_intervals():
    rng = np.random.default_rng(3)
    pieces = np.where(rng.random(60) < 0.3, rng.integers(1, 6, 60), 0).astype(float)
    kilograms = pieces + 0.25 * (pieces > 0)  # the same demand in a unit with fractions
    df = weekly({"pieces": pieces, "kilograms": kilograms})
    config = ForecastConfig(horizon=4, n_windows=2, n_jobs=1)
    tested = backtest(df, config)
    fc = forecast(df, choose_models(df, tested.scores), config, tested.calibration)
    q = fc.set_index("unique_id")[QCOLS]
    assert (q.loc["pieces"].to_numpy() == np.round(q.loc["pieces"].to_numpy())).all()
    assert (q.loc["kilograms"].to_numpy() != np.round(q.loc["kilograms"].to_numpy())).any()
    off = forecast(
        df,
        choose_models(df, tested.scores),
        ForecastConfig(horizon=4, n_windows=2, n_jobs=1, count_shape=False),
        tested.calibration,
    ).set_index("unique_id")[QCOLS]
    assert (off.loc["pieces"].to_numpy() != np.round(off.loc["pieces"].to_numpy())).any()


def test_undershoot_of_poisson_demand_matches_renewal_theory():
    from distributions.counts import count_undershoot_moments

    lam = 3.0
    mean, variance = count_undershoot_moments(
        np.array([lam, lam, 150.0]), np.sqrt([lam, lam, 150.0]), np.array([1_000, 0, 10_000])
    )
    # a large order quantity: the settled overshoot, E[X (X + 1)] / 2 E[X] over demand days
    # = (E[D^2] + E[D]) / 2 E[D] = 2.5, and E[U^2] = E[D (D + 1) (2 D + 1)] / 6 E[D] = 8.5
    assert mean[0] == pytest.approx(2.5, abs=1e-9)
    assert variance[0] == pytest.approx(8.5 - 2.5**2, abs=1e-9)
    # order quantity 0: any demand day triggers, the undershoot is that day's demand
    assert mean[1] == pytest.approx(lam / (1 - np.exp(-lam)), abs=1e-9)
    # a fast mover: the continuous form E[D^2] / 2 E[D] = (150 + 150^2) / 300
    assert mean[2] == pytest.approx((150 + 150**2) / 300)
