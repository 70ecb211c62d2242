"""The simulation's and the what-if scenarios' settings (light: no kernel loaded)."""

from __future__ import annotations

from dataclasses import dataclass

from optimization.config import SERVICE_LEVEL_RANGE
from parameters import check_ranges, setting, settings_except


@dataclass(frozen=True)
class SimulationConfig:
    """The Monte Carlo simulation's settings (time in days)."""

    days: int = setting(365, unit="days", doc="measured days per replication", low=1)
    warmup_days: int = setting(56, unit="days", doc="discarded start-up days", low=0)
    replications: int = setting(
        200,
        unit="replications",
        doc="independent runs; with target_half_width: the most that are run",
        low=1,
    )
    # 0.25 points: replications are independent, so the interval is Student's t over each
    # replication's class means; measured in docs/performance.md (session 21)
    target_half_width: float | None = setting(
        0.0025,
        unit="share (0.0025 = 0.25 points)",
        doc="stop adding replications once the 95% Monte Carlo interval (Student's t over the "
        "replications' means) of every group's mean cycle service (customer nodes by demand "
        "class) is this narrow; None: all replications",
        low=1e-6,
        high=0.5,
    )
    min_replications: int = setting(
        10, unit="replications", doc="replications before the interval is first judged", low=2
    )
    batch_replications: int = setting(
        1,
        unit="replications",
        doc="replications run one after another by one worker (a unit of work; the adaptive "
        "stop judges each batch's means, so keep 1 unless replications are tiny)",
        low=1,
    )
    workers: int = setting(
        2, unit="threads", doc="batches simulated at once (the kernel releases the GIL)", low=1
    )
    dask_scheduler: str | None = setting(
        None,
        unit="address",
        doc="simulate the item networks on this Dask cluster, network_chunk networks per "
        'task, e.g. "tcp://host:8786"; None: here (results are the same either way)',
    )
    network_chunk: int = setting(
        250,
        unit="networks",
        doc="item networks per task on the Dask cluster (dask_scheduler)",
        low=1,
    )
    lost_sales: bool = setting(False, unit="flag", doc="unmet demand is lost (False: backordered)")
    seed: int = setting(0, unit="seed", doc="random seed", low=0)
    demand: str = setting(
        "empirical",
        unit="empirical|gaussian",
        doc="customer demand: each node's own history bootstrapped (empirical, what is "
        "published as achieved service) or the forecast's model (gaussian: a self-check)",
    )
    block_days: int = setting(
        28, unit="days", doc="bootstrap block length, whole weeks", low=7, high=364
    )
    history_days: int = setting(
        364, unit="days", doc="latest days of history the bootstrap draws from", low=7
    )

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.demand not in ("empirical", "gaussian"):
            raise ValueError(
                f"SimulationConfig.demand must be empirical|gaussian, got {self.demand!r}"
            )
        if self.block_days % 7:
            raise ValueError("SimulationConfig.block_days must be a positive multiple of 7")


# settings that change where and how fast a simulation runs, not its numbers
NOT_RESULT_SETTINGS = ("workers", "dask_scheduler", "network_chunk")


def result_settings(config: SimulationConfig) -> dict:
    """The settings a simulation's numbers depend on (a stored simulation run under other
    ones is not reused)."""
    return settings_except(config, NOT_RESULT_SETTINGS)


@dataclass(frozen=True)
class Scenario:
    """One what-if, beside the base plan (the module's doc says what each change does)."""

    name: str = setting(unit="name", doc="the scenario's name, unique, not 'base'")
    lead_time_extra_days: float = setting(
        0.0, unit="days", doc="added to the mean lead time of the lanes chosen below", low=0.0
    )
    lead_time_source: str | None = setting(
        None, unit="location_id", doc="lanes from this location (None: any source)"
    )
    lead_time_destination: str | None = setting(
        None, unit="location_id", doc="lanes into this location (None: any destination)"
    )
    demand_change: float = setting(
        0.0, unit="share", doc="customer demand change, 0.2 = +20% (above -1)", low=-0.9999
    )
    demand_region: str | None = setting(
        None, unit="region", doc="customers in this region only (None: all)"
    )
    demand_item_class: str | None = setting(
        None, unit="demand class", doc="items of this demand class only (None: all)"
    )
    service_level: float | None = setting(
        None,
        unit="cycle service",
        doc="one cycle-service target replacing every service rule (None: the policy's)",
        low=SERVICE_LEVEL_RANGE[0],
        high=SERVICE_LEVEL_RANGE[1],
    )
    closed_location: str | None = setting(
        None, unit="location_id", doc="a location that ships nothing (needs reroute_to)"
    )
    reroute_to: str | None = setting(
        None, unit="location_id", doc="serves the closed location's customers"
    )

    def __post_init__(self) -> None:
        if not self.name or self.name == "base":
            raise ValueError("a scenario needs a name other than 'base'")
        try:
            check_ranges(self)
        except ValueError as reason:
            raise ValueError(f"scenario {self.name}: {reason}") from None
        if (self.closed_location is None) != (self.reroute_to is None):
            raise ValueError(f"scenario {self.name}: closed_location needs reroute_to, and back")
