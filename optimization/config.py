"""The optimizer's settings and the service level's one definition (light: no solver loaded)."""

from __future__ import annotations

from dataclasses import dataclass

from parameters import check_ranges, setting

DEFAULT_SERVICE_LEVEL = 0.95  # cycle service where no rule of the service policy applies
# the targets a rule or a scenario may set: below 0.5 safety stock turns negative, at 1 infinite
SERVICE_LEVEL_RANGE = (0.5, 0.9999)


@dataclass(frozen=True)
class PlanningConfig:
    """The optimizer's settings (the service targets come from the service policy)."""

    holding_rate_per_year: float = setting(
        0.25, unit="share of unit value per year", doc="cost of holding a unit", low=0.0, high=5.0
    )
    order_cycle_days: int = setting(
        7,
        unit="days",
        doc="days of mean demand one replenishment order covers (stock is reviewed daily: an "
        "order is placed when the inventory position falls below the reorder point)",
        low=1,
        high=365,
    )
    customer_service_days: int = setting(
        0, unit="days", doc="delivery time promised to customers (0: from stock)", low=0, high=365
    )
    mip_time_limit_seconds: float = setting(
        30.0, unit="seconds", doc="time limit of the exact solver per item network", low=0.1
    )
    min_cover_days: dict[str, float] = setting(
        default_factory=dict,
        unit="days of mean demand",
        doc="lowest target stock per location type (absent: no floor)",
    )
    max_cover_days: dict[str, float] = setting(
        default_factory=dict,
        unit="days of mean demand",
        doc="highest target stock per location type (absent: no cap)",
    )
    dask_scheduler: str | None = setting(
        None,
        unit="address",
        doc="solve the item networks on this Dask cluster, item_chunk items per task, e.g. "
        '"tcp://host:8786"; None: here',
    )
    reuse_tolerance: float = setting(
        0.01,
        unit="share",
        doc="an item whose lead-time demand (mean and sd per node and period) moved by at most "
        "this share since its plan was last solved, and whose network, lead times, costs, "
        "order rules, service targets and settings did not change, keeps that plan "
        "(optimization.reuse); 0: solve every item every run",
        low=0.0,
        high=0.5,
    )
    item_chunk: int = setting(
        500, unit="items", doc="items per task on the Dask cluster (dask_scheduler)", low=1
    )
    processes: int = setting(
        2,
        unit="processes",
        doc="plan this many what-if scenarios at once in local processes, when they hold at "
        "least PROCESS_MIN_ITEMS item plans together (2,000; simulation.scenarios; the same "
        "plans either way; 1: one after another in this process)",
        low=1,
    )

    def __post_init__(self) -> None:
        check_ranges(self)
