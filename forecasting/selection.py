"""Model selection on a cadence: what the back-test decided, kept and reused until it is stale.

The back-test over every candidate is the forecast's largest cost; the choice it makes moves
little from one day to the next. A ``Selection`` holds that choice (model per series), the
calibration per (class, model), the error correlation per class and the back-test accuracy.
A run whose data end less than ``ForecastConfig.selection_cadence_days`` after the selection's
(and whose settings are the same) reuses it: each series' chosen model is refit on the new
data and its quantiles and lead-time demand recomputed; nothing is back-tested. A series that
is new, or whose demand class changed since, takes its class's most chosen model until the
next selection (``selected_by`` says so). Stale by at most ``selection_cadence_days - 1`` days.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from forecasting.calibration import Calibration
from forecasting.config import ForecastConfig
from forecasting.models import DEFAULT_MODEL, classify
from parameters import settings_except

# a selection's per-series rows (``Selection.models``)
MODEL_COLUMNS = ["unique_id", "demand_class", "model", "scaled_pinball", "selected_by"]
# settings that do not change what the back-test chooses
_NOT_SELECTION = ("n_jobs", "dask_scheduler", "selection_cadence_days")


def selection_settings(config: ForecastConfig) -> str:
    """The settings a selection depends on, as a stable string (a selection made under other
    settings is not reused)."""
    return json.dumps(settings_except(config, _NOT_SELECTION), sort_keys=True)


@dataclass
class Selection:
    """models: unique_id, demand_class, model, scaled_pinball, selected_by (one row per
    series); calibration: per (demand class, model) the interval scale per level and the count
    spread; error_correlation: demand_class, k, variance_ratio; accuracy: the back-test's per
    series figures; selected_on: the last bucket (its start date) of the data it was made on;
    settings: ``selection_settings`` of the config it was made with."""

    models: pd.DataFrame
    calibration: Calibration
    error_correlation: pd.DataFrame
    accuracy: pd.DataFrame
    selected_on: pd.Timestamp
    settings: str

    def is_fresh(self, last_bucket: pd.Timestamp, config: ForecastConfig) -> bool:
        """Reusable for data ending with ``last_bucket``: same settings, made less than the
        cadence ago (and not on later data than these)."""
        age = (pd.Timestamp(last_bucket) - pd.Timestamp(self.selected_on)).days
        return (
            self.settings == selection_settings(config) and 0 <= age < config.selection_cadence_days
        )

    def carried_over(self, series: pd.DataFrame) -> pd.DataFrame:
        """``choose_models``' frame for ``series`` (unique_id, ds, y) from this selection: the
        same model where the series was selected in the same class, else the class's most
        chosen model (the default model for a class never seen)."""
        classes = classify(series)
        previous = self.models.set_index("unique_id")
        kept = classes["unique_id"].map(previous["model"])
        same_class = (
            classes["demand_class"].to_numpy()
            == classes["unique_id"].map(previous["demand_class"]).to_numpy()
        )
        by_class = (
            self.models.groupby(["demand_class", "model"])
            .size()
            .reset_index(name="series")
            .sort_values(["demand_class", "series", "model"], ascending=[True, False, True])
            .drop_duplicates("demand_class")
            .set_index("demand_class")["model"]
        )
        fallback = classes["demand_class"].map(by_class).fillna(DEFAULT_MODEL)
        reuse = kept.notna().to_numpy() & same_class
        made = pd.Timestamp(self.selected_on).date().isoformat()
        return classes.assign(
            model=kept.where(reuse, fallback).to_numpy(),
            scaled_pinball=classes["unique_id"].map(previous["scaled_pinball"]).where(reuse),
            selected_by=classes["unique_id"]
            .map(previous["selected_by"])
            .where(reuse, f"class's most chosen model (new or changed class since {made})")
            .to_numpy(),
        )

    def calibration_frame(self) -> pd.DataFrame:
        """The calibration as rows: demand_class, model, key (interval level or 'count_sd'),
        scale, with selected_on and settings (to store beside the forecast)."""
        rows = [
            (demand_class, model, str(key), float(scale))
            for (demand_class, model), scales in self.calibration.items()
            for key, scale in scales.items()
        ]
        frame = pd.DataFrame(rows, columns=["demand_class", "model", "key", "scale"])
        return frame.assign(selected_on=pd.Timestamp(self.selected_on), settings=self.settings)

    @staticmethod
    def calibration_from(frame: pd.DataFrame) -> Calibration:
        """``calibration_frame``'s rows back to the engine's calibration."""
        out: Calibration = {}
        for row in frame.itertuples(index=False):
            key = int(row.key) if str(row.key).isdigit() else row.key
            out.setdefault((row.demand_class, row.model), {})[key] = float(row.scale)
        return out
