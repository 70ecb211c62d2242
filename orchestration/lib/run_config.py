"""Dagster run configuration derived from the domain's settings dataclasses, never copied.

``run_config_for(SettingsClass)`` makes a ``dg.Config`` with the dataclass's fields, types and
defaults (descriptions with unit and range from ``parameters.setting``); its ``settings()``
builds the dataclass, which checks the ranges. A field the run cannot set (e.g. the workers of
a process) is left out and keeps the dataclass default.
"""

from __future__ import annotations

import dataclasses
import typing

import dagster as dg
import pydantic

from forecasting.config import ForecastConfig
from optimization.config import PlanningConfig
from parameters import describe
from simulation.config import Scenario, SimulationConfig


class SettingsConfig(dg.Config):
    """A run configuration standing for a settings dataclass (see ``run_config_for``)."""

    def settings(self, **overrides):
        """The settings dataclass with this run's values (and ``overrides``)."""
        return self._settings_class(**(self.model_dump() | overrides))


def run_config_for(
    settings_class: type, name: str, exclude: tuple[str, ...] = ()
) -> type[SettingsConfig]:
    """A ``dg.Config`` subclass named ``name`` with the fields of ``settings_class``."""
    hints = typing.get_type_hints(settings_class)
    fields = {}
    for field in dataclasses.fields(settings_class):
        if field.name in exclude:
            continue
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        elif field.default is dataclasses.MISSING:
            default = ...  # required
        else:
            default = field.default
        fields[field.name] = (
            hints[field.name],
            pydantic.Field(default=default, description=describe(field) or None),
        )
    config = pydantic.create_model(name, __base__=SettingsConfig, **fields)
    config.__doc__ = f"Run configuration of ``{settings_class.__name__}``: {settings_class.__doc__}"
    config._settings_class = settings_class
    return config


# The run configurations of the pipeline's settings, shared by the assets that use them.
ForecastRunConfig = run_config_for(ForecastConfig, "ForecastRunConfig", exclude=("n_jobs",))
OptimizeRunConfig = run_config_for(PlanningConfig, "OptimizeRunConfig")
SimulationRunConfig = run_config_for(
    SimulationConfig, "SimulationRunConfig", exclude=("batch_replications", "workers")
)
ScenarioConfig = run_config_for(Scenario, "ScenarioConfig")
