"""Does a global gradient-boosted model beat the per-series selection on car parts? (issue 18)

One LightGBM regressor trained across all 2,509 complete series (mlforecast: lags 1-12, rolling
means of 3, 6 and 12 months and the expanding mean of the last month, recursive 6-month
forecast), untuned, objectives tweedie / poisson / l2. Its mean gets the pipeline's count spread
(negative binomial, variance = mean x the series' variance / mean of its last 12 months) times
k = 1.0, 1.2, 1.4. Scored like benchmarks/carparts.py on the VALIDATION window only (trained on
months 1-39, scored on 40-45): a candidate is judged there before it may join the pipeline.

Not a project dependency: `uv pip install --python .venv/bin/python mlforecast lightgbm` first.
Usage: python -m benchmarks.carparts_global
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from benchmarks.carparts import HORIZON, WINDOWS, load
from distributions.counts import count_quantiles
from forecasting.engine import recent_dispersion
from forecasting.metrics import (
    DENSE_LEVELS,
    central_coverage,
    crps_count,
    quantile_score,
    randomized_pit,
)


def main() -> None:
    try:
        import lightgbm as lgb
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import ExpandingMean, RollingMean
    except ImportError as missing:
        raise SystemExit(
            f"{missing}: install mlforecast and lightgbm first (see the doc)"
        ) from None
    df = load()
    months = np.sort(df["ds"].unique())
    training = WINDOWS["validation"]
    train = df[df["ds"] <= months[training - 1]]
    actual = df[(df["ds"] > months[training - 1]) & (df["ds"] <= months[training + HORIZON - 1])]
    last = train.groupby("unique_id").tail(1)
    dispersion = pd.Series(
        recent_dispersion(train, 12)[train.index.get_indexer(last.index)],
        index=last["unique_id"].to_numpy(),
    )
    print(
        f"{'objective':<11} {'k':>4} {'crps_99':>8} {'exact':>8} {'pit80':>6} {'pit95':>6} {'bias':>7} seconds"
    )
    for objective in ("tweedie", "poisson", "regression"):
        started = time.perf_counter()
        model = lgb.LGBMRegressor(
            objective=objective,
            n_estimators=300,
            learning_rate=0.03,
            num_leaves=31,
            min_child_samples=50,
            verbose=-1,
            n_jobs=2,
        )
        forecaster = MLForecast(
            models={"gbm": model},
            freq="MS",
            lags=list(range(1, 13)),
            lag_transforms={1: [RollingMean(3), RollingMean(6), RollingMean(12), ExpandingMean()]},
        )
        forecaster.fit(train, static_features=[])
        merged = forecaster.predict(HORIZON).merge(actual, on=["unique_id", "ds"])
        seconds = time.perf_counter() - started
        mean = np.clip(merged["gbm"].to_numpy(float), 0.0, None)
        y = merged["y"].to_numpy(float)
        scale = np.abs(y).mean()
        for k in (1.0, 1.2, 1.4):
            sd = k * np.sqrt(mean * dispersion.reindex(merged["unique_id"]).to_numpy())
            pit = randomized_pit(mean, sd, y, np.random.default_rng(0))
            crps_99 = quantile_score(y, count_quantiles(mean, sd, DENSE_LEVELS), DENSE_LEVELS)
            print(
                f"{objective:<11} {k:>4.1f} {crps_99.mean() / scale:>8.4f} "
                f"{crps_count(mean, sd, y).mean() / scale:>8.4f} {central_coverage(pit, 0.8):>6.3f} "
                f"{central_coverage(pit, 0.95):>6.3f} {mean.sum() / y.sum() - 1:>+7.1%} {seconds:.1f}"
            )


if __name__ == "__main__":
    main()
