"""Forecasting on a local Dask cluster (127.0.0.1) gives the local run's results."""

import numpy as np
import pandas as pd
import pytest

from forecasting.config import QCOLS, ForecastConfig
from forecasting.engine import backtest, choose_models, forecast

distributed = pytest.importorskip("distributed")


def _series() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 70
    values = {
        "smooth-1": 40 + 4 * np.sin(np.arange(n) / 3) + rng.normal(0, 3, n),
        "smooth-2": 25 + rng.normal(0, 2, n),
        "slow-1": np.where(rng.random(n) < 0.25, rng.integers(1, 4, n), 0),
        "slow-2": np.where(rng.random(n) < 0.3, rng.integers(1, 6, n), 0),
    }
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "ds": pd.date_range("2024-01-07", periods=n, freq="W-SUN"),
                    "y": v.astype(float),
                }
            )
            for uid, v in values.items()
        ],
        ignore_index=True,
    )


def _plan(df: pd.DataFrame, config: ForecastConfig) -> pd.DataFrame:
    tested = backtest(df, config)
    chosen = choose_models(df, tested.scores)
    return forecast(df, chosen, config, tested.calibration)


@pytest.fixture(scope="module")
def scheduler() -> str:
    """The address of a local two-worker cluster (127.0.0.1) the module's tests share."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        yield cluster.scheduler_address


def test_dask_cluster_forecasts_equal_the_local_run(scheduler):
    df = _series()
    local = _plan(df, ForecastConfig(horizon=4, n_windows=2, n_jobs=1))
    remote = _plan(df, ForecastConfig(horizon=4, n_windows=2, dask_scheduler=scheduler))
    assert remote[["unique_id", "ds", "model"]].equals(local[["unique_id", "ds", "model"]])
    columns = ["mean", *QCOLS]
    # Fugue hands values back as float32: equal to ~1e-6 relative
    np.testing.assert_allclose(remote[columns], local[columns], rtol=1e-5, atol=1e-5)


def test_dask_cluster_plans_equal_the_local_run(scheduler):
    from planning_inputs import several_items

    from optimization.config import PlanningConfig
    from optimization.targets import plan_targets

    planning = several_items(5)
    local_targets, local_summary = plan_targets(planning)
    assert local_targets["sku"].nunique() == 5
    remote_targets, remote_summary = plan_targets(
        planning, PlanningConfig(dask_scheduler=scheduler, item_chunk=2)
    )
    pd.testing.assert_frame_equal(remote_targets, local_targets)
    pd.testing.assert_frame_equal(remote_summary, local_summary)
