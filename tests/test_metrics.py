"""Forecast scores: exact count CRPS, quantile scores, randomized PIT."""

import numpy as np
import pytest
from scipy import stats

from distributions.counts import count_quantiles
from forecasting.metrics import (
    DENSE_LEVELS,
    central_coverage,
    crps_count,
    quantile_score,
    randomized_pit,
)


def test_exact_crps_of_a_poisson_matches_its_energy_form():
    # CRPS(F, y) = E|X - y| - E|X - X'| / 2, estimated from a large sample of X ~ Poisson(3)
    rng = np.random.default_rng(0)
    x, x2 = rng.poisson(3.0, 400_000), rng.poisson(3.0, 400_000)
    for y in (0, 2, 7):
        energy = np.abs(x - y).mean() - np.abs(x - x2).mean() / 2
        exact = crps_count(np.array([3.0]), np.array([np.sqrt(3.0)]), np.array([y]))[0]
        assert exact == pytest.approx(energy, abs=0.01)


def test_dense_quantile_score_approaches_the_exact_crps_and_few_levels_do_not():
    mean, sd = np.full(2000, 4.0), np.full(2000, 3.0)
    y = stats.nbinom(4.0**2 / (9.0 - 4.0), 4.0 / 9.0).rvs(2000, random_state=1)
    exact = crps_count(mean, sd, y).mean()
    dense = quantile_score(y, count_quantiles(mean, sd, DENSE_LEVELS), DENSE_LEVELS).mean()
    tails = np.array([0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.975, 0.98, 0.99])
    thirteen = quantile_score(y, count_quantiles(mean, sd, tails), tails).mean()
    assert dense == pytest.approx(exact, rel=0.05)
    assert thirteen < 0.8 * exact  # a tail-weighted quantile score is no CRPS


def test_randomized_pit_is_uniform_for_a_calibrated_count_forecast():
    rng = np.random.default_rng(2)
    mean = rng.uniform(0.2, 5.0, 50_000)
    y = rng.poisson(mean)
    pit = randomized_pit(mean, np.sqrt(mean), y, rng)
    assert central_coverage(pit, 0.8) == pytest.approx(0.8, abs=0.01)
    assert central_coverage(pit, 0.95) == pytest.approx(0.95, abs=0.01)
    # a forecast twice too wide covers too much
    wide = randomized_pit(mean, 2 * np.sqrt(mean) + 1, y, rng)
    assert central_coverage(wide, 0.8) > 0.85


def test_count_crps_and_cdf_agree_with_scipy():
    mean = np.array([0.0, 0.4, 3.0, 3.0, 12.0])
    sd = np.array([0.0, 0.5, np.sqrt(3.0), 3.0, 10.0])
    y = np.array([2.0, 0.0, 4.0, 0.0, 30.0])
    from distributions.counts import count_cdf_at

    size = 3.0**2 / (9.0 - 3.0)
    expected = [
        1.0,  # a point mass at 0: P(X <= 2)
        stats.poisson(0.4).cdf(0),  # sd below the Poisson's: Poisson
        stats.poisson(3.0).cdf(4),
        stats.nbinom(size, size / (size + 3.0)).cdf(0),
        stats.nbinom(144 / 88, (144 / 88) / (144 / 88 + 12)).cdf(30),
    ]
    np.testing.assert_allclose(count_cdf_at(mean, sd, y), expected, rtol=1e-9)
    # CRPS of a point mass is |y|; of any distribution, sum of (F(k) - 1{y <= k})^2
    k = np.arange(400)
    cdf = stats.nbinom(144 / 88, (144 / 88) / (144 / 88 + 12)).cdf(k)
    direct = ((cdf - (k >= 30)) ** 2).sum()
    assert crps_count(mean, sd, y)[0] == 2.0
    assert crps_count(mean, sd, y)[4] == pytest.approx(direct, rel=1e-9)


def test_pinball_equals_its_textbook_form():
    from forecasting.config import QUANTILES
    from forecasting.metrics import pinball

    rng = np.random.default_rng(0)
    y = rng.poisson(3, 200).astype(float)
    quantiles = np.sort(rng.gamma(2, 2, (200, len(QUANTILES))), axis=1)
    levels = np.asarray(QUANTILES)
    diff = y[:, None] - quantiles
    textbook = np.where(diff >= 0, levels * diff, (levels - 1) * diff).mean(axis=1)
    np.testing.assert_allclose(pinball(y, quantiles.copy()), textbook, rtol=1e-12)
    # one point by hand: y = 4, all quantiles 3 -> mean of q x 1 over the levels
    assert pinball(np.array([4.0]), np.full((1, len(levels)), 3.0))[0] == pytest.approx(
        levels.mean()
    )
