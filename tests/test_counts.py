"""Count-demand quantiles: negative binomial / Poisson against scipy, and their use per series."""

import numpy as np
import pandas as pd
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
