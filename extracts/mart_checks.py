"""pandera rules on the dbt marts, run as blocking Dagster asset checks before publication."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

TEXT = pd.StringDtype("pyarrow")  # ids as read from the marts: Arrow strings, checked by dtype

MART_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "fct_customer_demand_daily": pa.DataFrameSchema(
        {
            "location_id": pa.Column(TEXT),
            "sku": pa.Column(TEXT),
            "demand_date": pa.Column("datetime64[us]", coerce=True),
            "demand_qty": pa.Column(
                float, pa.Check.ge(0, error="demand is negative after returns netting")
            ),
        },
        unique=["location_id", "sku", "demand_date"],
    ),
    "fct_lane_lead_times": pa.DataFrameSchema(
        {
            "lead_time_mean_days": pa.Column(
                float, pa.Check.gt(0, error="lead time is not positive")
            ),
            "lead_time_stddev_days": pa.Column(float, pa.Check.ge(0)),
        }
    ),
    "fct_inventory_position": pa.DataFrameSchema(
        {
            "on_hand": pa.Column(float, pa.Check.ge(0, error="on hand is negative")),
            "allocated": pa.Column(float, pa.Check.ge(0)),
            "in_transit": pa.Column(float, pa.Check.ge(0)),
            "on_order": pa.Column(float, pa.Check.ge(0)),
        }
    ),
    "fct_item_network": pa.DataFrameSchema(
        {
            "source_location_type": pa.Column(TEXT, nullable=False),
            "destination_location_type": pa.Column(TEXT, nullable=False),
            "transit_days": pa.Column(float, pa.Check.ge(0)),
        }
    ),
}


def item_network_cycles(network: pd.DataFrame) -> list[str]:
    """Items whose lane graph has a cycle, each with the cycle as 'A -> B -> A'."""
    found = []
    for sku, lanes in network.groupby("sku", sort=True):
        graph = nx.DiGraph(
            list(zip(lanes["source_location_id"], lanes["destination_location_id"], strict=True))
        )
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            continue
        found.append(f"{sku}: {' -> '.join([e[0] for e in cycle] + [cycle[0][0]])}")
    return found


def check_mart(name: str, frame: pd.DataFrame) -> list[str]:
    """Failures of one mart as readable lines (empty when the mart passes)."""
    failures: list[str] = []
    schema = MART_SCHEMAS.get(name)
    if schema is not None:
        try:
            schema.validate(frame, lazy=True)
        except SchemaErrors as errors:
            cases = errors.failure_cases.head(10)
            failures += [
                f"{name} row {c.index}, field {c.column}: {c.failure_case!r} fails {c.check}"
                for c in cases.itertuples(index=False)
            ]
    if name == "fct_item_network":
        failures += [f"{name}: lane cycle for item {c}" for c in item_network_cycles(frame)]
    return failures
