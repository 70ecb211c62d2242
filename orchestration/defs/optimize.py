"""Optimizer asset: GSM safety-stock placement per item network, targets per node."""

from collections import Counter

import dagster as dg
from dagster_duckdb import DuckDBResource

from extracts.contract import LOCATION_TYPES
from marts.reads import (
    forecast_store_nodes,
    last_solve,
    last_tradeoff_by_item,
    read_planning_inputs,
    read_table,
)
from orchestration.lib.keys import INVENTORY_TARGETS, NODE_FORECASTS, SERVICE_POLICY, mart_key
from orchestration.lib.partitions import daily_asset
from orchestration.lib.run_config import OptimizeRunConfig
from orchestration.lib.warehouse import (
    markdown_table,
    run_date_of,
    table_metadata,
    write_results,
)
from serving import pictures


@daily_asset(
    key=["optimization", "inventory_targets"],
    deps=[
        NODE_FORECASTS,
        mart_key("fct_item_network"),
        mart_key("fct_lane_lead_times"),
        mart_key("dim_items"),
        SERVICE_POLICY,
    ],
    description="Safety stock, service times, reorder points and target stock per node (GSM), with the single-echelon baseline.",
)
def inventory_targets(
    context: dg.AssetExecutionContext, config: OptimizeRunConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    from optimization.reuse import plan_reusing

    settings = config.settings()
    run_date = run_date_of(context)
    with warehouse.get_connection() as con:
        inputs = read_planning_inputs(con)
        last = last_solve(con, run_date)
    planned = plan_reusing(inputs, settings, last)
    targets, summary = planned.targets, planned.summary
    context.log.info(
        f"{len(planned.solved):,} items solved, {len(planned.reused):,} kept their last plan "
        f"(lead-time demand and lanes' lead times within {settings.reuse_tolerance:.1%} of "
        "what it was solved with, nothing else changed); solved because: "
        f"{dict(Counter(planned.why.values()))}"
    )
    counts = write_results(
        warehouse,
        "optimization",
        {
            "inventory_targets": targets,
            "item_summary": summary,
            "plan_basis": planned.basis,
            "plan_structure": planned.structure,
        },
        run_date,
    )
    rows = counts["inventory_targets"]
    by_echelon = (  # in the network's order: supplier side first, stores last
        targets.groupby("location_type")[["safety_stock_value", "baseline_safety_stock_value"]]
        .sum()
        .reindex([t for t in LOCATION_TYPES if t in set(targets["location_type"])])
        .reset_index()
    )
    meio, base = targets["safety_stock_value"].sum(), targets["baseline_safety_stock_value"].sum()
    saving = 1 - meio / base if base else 0.0
    context.log.info(
        f"network safety stock value {meio:,.0f} vs single-echelon {base:,.0f}: saving {saving:.1%}"
    )
    with warehouse.get_connection() as con:
        network = read_table(con, "marts", "fct_item_network")
    echelon_bars = pictures.bar_chart(
        "Safety stock value by echelon",
        list(by_echelon["location_type"]),
        {
            "GSM (MEIO)": by_echelon["safety_stock_value"].tolist(),
            "single-echelon": by_echelon["baseline_safety_stock_value"].tolist(),
        },
        "safety stock value",
    )
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "items": len(summary),
            "network_picture": dg.MetadataValue.md(
                pictures.as_markdown(pictures.network_picture(targets, network), "network")
            ),
            "by_echelon_picture": dg.MetadataValue.md(
                pictures.as_markdown(echelon_bars, "GSM vs single-echelon by echelon")
            ),
            "network_safety_stock_value": round(float(meio), 2),  # currency
            "single_echelon_safety_stock_value": round(float(base), 2),
            "saving_vs_single_echelon": dg.MetadataValue.float(round(float(saving), 4)),
            **table_metadata(targets, "inventory_targets"),
            "not_optimal_items": int((summary["status"] != "optimal").sum()),
            "items_solved": len(planned.solved),
            "items_kept": len(planned.reused),
            "reuse_tolerance": settings.reuse_tolerance,
            "by_echelon": dg.MetadataValue.md(markdown_table(by_echelon, ",.0f")),
        }
    )


@daily_asset(
    key=["optimization", "planner_actions"],
    deps=[INVENTORY_TARGETS, mart_key("fct_inventory_position")],
    description="Replenishment orders, fair-share allocations and redeployments from today's position vs the targets.",
)
def planner_actions(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    from optimization.actions import plan_actions

    with warehouse.get_connection() as con:
        actions = plan_actions(
            targets=read_table(con, "optimization", "inventory_targets"),
            position=read_table(con, "marts", "fct_inventory_position"),
            item_network=read_table(con, "marts", "fct_item_network"),
            items=read_table(con, "marts", "dim_items"),
        )
    rows = write_results(
        warehouse, "optimization", {"planner_actions": actions}, run_date_of(context)
    )["planner_actions"]
    counts = (
        actions.groupby("action")
        .agg(actions=("quantity", "size"), units=("quantity", "sum"))
        .reset_index()
    )
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            **table_metadata(actions, "planner_actions"),
            "by_action": dg.MetadataValue.md(markdown_table(counts, ",.0f")),
        }
    )


@daily_asset(
    key=["optimization", "service_tradeoff"],
    deps=[INVENTORY_TARGETS],
    description="Safety stock value vs cycle-service target, GSM and single-echelon (where extra stock buys the most service).",
)
def service_tradeoff_curve(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    from optimization.tradeoff import empty_tradeoff, tradeoff_by_item, tradeoff_curve

    with warehouse.get_connection() as con:
        targets = read_table(con, "optimization", "inventory_targets")
        inputs = read_planning_inputs(con)
        last = last_tradeoff_by_item(con)
    try:
        by_item, kept = tradeoff_by_item(inputs, targets, last=last)
        curve = tradeoff_curve(by_item)
    except ValueError as reason:  # a mixed policy: the curve needs re-planning per level
        context.log.warning(f"no service trade-off curve: {reason}")
        by_item, kept, curve = None, 0, empty_tradeoff()
    results = {"service_tradeoff": curve}
    if by_item is not None:
        results["service_tradeoff_items"] = by_item
        context.log.info(
            f"trade-off valued for {by_item['sku'].nunique() - kept:,} items; {kept:,} kept "
            "their values (plan unchanged since they were valued)"
        )
    rows = write_results(warehouse, "optimization", results, run_date_of(context))[
        "service_tradeoff"
    ]
    shown = curve[
        [
            "service_level",
            "meio_safety_stock_value",
            "single_echelon_safety_stock_value",
            "saving_vs_single_echelon",
        ]
    ]
    picture = pictures.line_chart(
        "Safety stock value vs cycle-service target",
        100 * shown["service_level"],
        {
            "GSM (MEIO)": shown["meio_safety_stock_value"],
            "single-echelon": shown["single_echelon_safety_stock_value"],
        },
        "cycle-service target (%)",
        "safety stock value",
    )
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "items_kept": kept,
            **table_metadata(curve, "service_tradeoff"),
            "curve": dg.MetadataValue.md(markdown_table(shown, ",.3f")),
            "curve_picture": dg.MetadataValue.md(pictures.as_markdown(picture, "trade-off")),
        }
    )


@dg.asset_check(
    asset=INVENTORY_TARGETS,
    name="targets_complete_and_consistent",
    blocking=True,
    description="Every store node with a forecast is planned; every node's quantities are "
    "finite and not negative (optimization.targets.plan_problems) and its reorder point is at "
    "most its target stock.",
)
def targets_complete_and_consistent(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    from optimization.targets import plan_problems

    with warehouse.get_connection() as con:
        targets = read_table(con, "optimization", "inventory_targets")
        stores = forecast_store_nodes(con)[["location_id", "sku"]]
    problems = plan_problems(targets)
    planned = targets.loc[targets["is_customer_facing"], ["location_id", "sku"]]
    missing = stores.merge(planned, how="left", indicator=True).query("_merge == 'left_only'")
    if len(missing):
        shown = ", ".join(f"{r.location_id}/{r.sku}" for r in missing.head(5).itertuples())
        problems.append(f"{len(missing)} store nodes with demand are not planned, e.g. {shown}")
    inverted = targets["reorder_point"] > targets["target_stock_level"] + 1e-9
    if inverted.any():
        problems.append(f"{int(inverted.sum())} nodes with a reorder point above the target")
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="\n".join(problems) if problems else f"{len(targets):,} nodes planned",
        metadata={"nodes": len(targets), "store_nodes": len(stores), "problems": len(problems)},
    )
