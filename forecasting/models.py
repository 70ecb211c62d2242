"""Demand classes (Syntetos-Boylan) and the candidate models for each class: statsforecast's
local models and the global LightGBM (``forecasting.global_model``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    AutoETS,
    AutoTheta,
    CrostonSBA,
    DynamicOptimizedTheta,
    HistoricAverage,
    SeasonalNaive,
)
from statsforecast.utils import ConformalIntervals

from forecasting.global_model import GlobalQuantileGBM

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
DEFAULT_MODEL = "HistoricAverage"  # series too short to back-test
ENSEMBLE = "Ensemble"  # the class's ensemble_members, calibrated quantiles averaged
# candidates whose statsforecast ``forward`` is trusted to roll a first-origin fit to the later
# back-test origins; AutoETS's can diverge (on the 2,000-item data one smooth series' rolled
# multiplicative fit reached 1.9e13 units), so AutoETS is refitted at every origin
ROLL_FORWARD = ("AutoTheta", "DynamicOptimizedTheta", "SeasonalNaive")


def classify(df: pd.DataFrame) -> pd.DataFrame:
    """ADI (mean periods between non-zero demands), CV^2 of non-zero sizes, and the class.

    smooth: ADI < 1.32 and CV^2 < 0.49; erratic: ADI < 1.32, CV^2 >= 0.49; intermittent:
    ADI >= 1.32, CV^2 < 0.49; lumpy: both above. A series with no demand is 'no_demand'.
    """
    grouped = df.groupby("unique_id", sort=True)["y"]
    n = grouped.size()
    nonzero = df[df["y"] > 0].groupby("unique_id")["y"]
    count = nonzero.size().reindex(n.index, fill_value=0)
    mean = nonzero.mean().reindex(n.index)
    sd = nonzero.std(ddof=0).reindex(n.index)
    adi = (n / count.replace(0, np.nan)).astype(float)
    cv2 = ((sd / mean) ** 2).fillna(0.0)
    demand_class = np.select(
        [count == 0, (adi < ADI_CUTOFF) & (cv2 < CV2_CUTOFF), adi < ADI_CUTOFF, cv2 < CV2_CUTOFF],
        ["no_demand", "smooth", "erratic", "intermittent"],
        default="lumpy",
    )
    return pd.DataFrame(
        {
            "unique_id": n.index,
            "adi": adi.to_numpy(),
            "cv2": cv2.to_numpy(),
            "demand_class": demand_class,
        }
    )


def candidate_models(demand_class: str, horizon: int, season_length: int, n_obs: int) -> list:
    """Fresh model objects (statsforecast mutates them) for one class of series.

    Croston-family models have no intervals of their own: they get conformal intervals.
    Seasonal models join only where two full seasons are left after back-testing.
    """
    conformal = ConformalIntervals(h=horizon, n_windows=2)
    baselines = [HistoricAverage()]
    seasonal = n_obs >= 2 * season_length + 3 * horizon
    if seasonal:
        baselines.append(SeasonalNaive(season_length=season_length))
    if demand_class in ("smooth", "erratic"):
        # the dynamic optimised Theta alone, not AutoTheta's pick of four Theta variants:
        # half the fitting time and a lower back-test loss on the demo's and the 2,000-item
        # network's smooth series (0.0688 vs 0.0694, 0.0693 vs 0.0699 scaled pinball)
        models = [
            AutoETS(season_length=1, model="ZZN"),
            DynamicOptimizedTheta(season_length=season_length if seasonal else 1),
        ]
        return models + baselines + [GlobalQuantileGBM(season_length)]
    if demand_class in ("intermittent", "lumpy"):
        # Theta joins the Croston family: on the car-parts benchmark it is the best single model
        return (
            [
                CrostonSBA(prediction_intervals=conformal),
                # TSB updates the demand probability every period, so it follows obsolescence
                TSB(alpha_d=0.1, alpha_p=0.1, prediction_intervals=conformal),
                ADIDA(prediction_intervals=conformal),
                IMAPA(prediction_intervals=conformal),
                AutoTheta(season_length=season_length if seasonal else 1),
            ]
            + baselines
            + [GlobalQuantileGBM(season_length)]
        )
    # no demand yet: the history's average says zero; the global model knows how often series
    # that had none went on to sell (on car parts' validation window, 16 such series: 11% less
    # CRPS than the zero forecast)
    return [HistoricAverage(), GlobalQuantileGBM(season_length)]


def model_by_name(name: str, horizon: int, season_length: int, n_obs: int) -> object:
    """A fresh instance of the candidate called ``name``, set up for series of ``n_obs`` buckets
    exactly as it was in the back-test (the forecast groups the series that chose it)."""
    for demand_class in ("smooth", "intermittent"):
        for model in candidate_models(demand_class, horizon, season_length, n_obs):
            if repr(model) == name:
                return model
    raise KeyError(f"unknown model {name!r} for series of {n_obs} buckets")


def ensemble_members(demand_class: str) -> tuple[str, ...]:
    """Candidates whose calibrated quantiles the ``ENSEMBLE`` candidate averages, per class
    (chosen on the car-parts benchmark, see docs/design.md); () = no ensemble."""
    if demand_class in ("smooth", "erratic"):
        return ("AutoETS", "DynamicOptimizedTheta")
    if demand_class in ("intermittent", "lumpy"):
        return ("TSB", "IMAPA", "AutoTheta")
    return ()
