"""Forecasting, planning and simulating on a local Dask cluster (127.0.0.1) give the local
run's results."""

from dataclasses import replace

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


def test_dask_cluster_simulations_equal_the_local_run(scheduler):
    from planning_inputs import several_items_simulation_case

    from simulation.config import SimulationConfig
    from simulation.monte_carlo import simulate_plan

    targets, planning, history = several_items_simulation_case(5)
    config = SimulationConfig(
        days=140, warmup_days=28, replications=40, min_replications=10, target_half_width=0.02
    )

    def run(settings: SimulationConfig):
        return simulate_plan(
            targets,
            planning.item_network,
            planning.lane_lead_times,
            planning.lead_time_demand,
            settings,
            demand_history=history,
        )

    local = run(config)
    remote = run(replace(config, dask_scheduler=scheduler, network_chunk=2))
    # the adaptive stop judged the same batches: the same replications, the same numbers
    assert local["replications"].iloc[0] < config.replications
    pd.testing.assert_frame_equal(remote, local)
