"""Asset keys the defs modules refer to across concerns (so that no defs module imports another)."""

import dagster as dg


def mart_key(name: str) -> dg.AssetKey:
    """A dbt mart's asset key (the translator keys models by layer: ``marts/<name>``)."""
    return dg.AssetKey(["marts", name])


SERVICE_POLICY = dg.AssetKey(["policy", "service_policy"])
NODE_FORECASTS = dg.AssetKey(["forecast", "node_forecasts"])
INVENTORY_TARGETS = dg.AssetKey(["optimization", "inventory_targets"])
SERVICE_SIMULATION = dg.AssetKey(["simulation", "service_simulation"])
