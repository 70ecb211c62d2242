"""The planner report: one self-contained HTML file (opens offline) with the plan's pictures.

What a planner acts on first: today's actions and the exceptions (below reorder point, excess,
service short of target) by value; then the network with safety stock per node (layered
layout), GSM vs single-echelon safety stock by echelon, the service-vs-inventory curve, the
bullwhip per echelon, forecast fan charts for the nodes that matter (largest safety stock
value, worst simulated service), and the plan of every node, searchable by item and location.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from serving.layout import ECHELON_X, network_nodes
from serving.style import BASELINE_COLOUR, CLASS_COLOURS, GSM_COLOUR, rgba

REPORT_FILE = "planner_report.html"
LABELLED_PER_LAYER = 25  # a layer with more locations names them on hover only
TOP_ROWS = 20  # actions and exceptions listed, largest value first
PLAN_ROWS = 5_000  # nodes in the searchable plan table, largest safety stock value first


def network_figure(targets: pd.DataFrame, network: pd.DataFrame) -> go.Figure:
    """Locations by echelon (left to right, ``network_layout``), sized by the safety stock
    value they hold; named where a layer has at most LABELLED_PER_LAYER, else on hover."""
    nodes = network_nodes(targets, network)
    crowded = nodes.groupby("x")["location_id"].transform("size") > LABELLED_PER_LAYER
    at = nodes.set_index("location_id")[["x", "y"]]
    lanes = network[["source_location_id", "destination_location_id"]].drop_duplicates()
    lanes = lanes[
        lanes["source_location_id"].isin(at.index) & lanes["destination_location_id"].isin(at.index)
    ]
    a = at.loc[lanes["source_location_id"]].to_numpy()
    b = at.loc[lanes["destination_location_id"]].to_numpy()
    gaps = np.full((len(lanes), 1), np.nan)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=np.hstack([a[:, :1], b[:, :1], gaps]).ravel(),
            y=np.hstack([a[:, 1:], b[:, 1:], gaps]).ravel(),
            mode="lines",
            line={"color": "#bbb", "width": 1},
            hoverinfo="skip",
            name="lanes",
        )
    )
    top = max(float(nodes["safety_stock_value"].max()), 1.0)
    fig.add_trace(
        go.Scatter(
            x=nodes["x"],
            y=nodes["y"],
            mode="markers+text",
            text=nodes["location_id"].where(~crowded, ""),
            textposition="middle right",
            marker={
                "size": 8 + 40 * (nodes["safety_stock_value"] / top) ** 0.5,
                "color": GSM_COLOUR,
            },
            customdata=nodes[["location_id", "safety_stock_value"]],
            hovertemplate="%{customdata[0]}<br>safety stock value %{customdata[1]:,.0f}"
            "<extra></extra>",
            name="locations",
        )
    )
    fig.update_layout(
        title="Where the safety stock sits (marker area = safety stock value)",
        xaxis={
            "tickvals": list(ECHELON_X.values()),
            "ticktext": list(ECHELON_X),
            "showgrid": False,
            "range": [-0.3, len(ECHELON_X) - 0.5],
        },
        yaxis={"visible": False},
        showlegend=False,
        height=max(520, int(14 * (nodes["y"].max() - nodes["y"].min()))),
    )
    return fig


def echelon_figure(targets: pd.DataFrame) -> go.Figure:
    by = targets.groupby("location_type")[
        ["safety_stock_value", "baseline_safety_stock_value"]
    ].sum()
    by = by.reindex([t for t in ECHELON_X if t in by.index])
    fig = go.Figure(
        [
            go.Bar(
                name="single-echelon",
                x=by.index,
                y=by["baseline_safety_stock_value"],
                marker_color=BASELINE_COLOUR,
            ),
            go.Bar(
                name="multi-echelon (GSM)",
                x=by.index,
                y=by["safety_stock_value"],
                marker_color=GSM_COLOUR,
            ),
        ]
    )
    fig.update_layout(
        title="Safety stock value by echelon", barmode="group", yaxis_title="currency", height=420
    )
    return fig


def tradeoff_figure(curve: pd.DataFrame) -> go.Figure:
    fig = go.Figure(
        [
            go.Scatter(
                x=curve["service_level"] * 100,
                y=curve["single_echelon_safety_stock_value"],
                name="single-echelon",
                mode="lines+markers",
                line_color=BASELINE_COLOUR,
            ),
            go.Scatter(
                x=curve["service_level"] * 100,
                y=curve["meio_safety_stock_value"],
                name="multi-echelon (GSM)",
                mode="lines+markers",
                line_color=GSM_COLOUR,
            ),
        ]
    )
    fig.update_layout(
        title="Service versus inventory",
        xaxis_title="cycle service target (%)",
        yaxis_title="safety stock value",
        height=420,
    )
    return fig


def fan_figure(history: pd.DataFrame, forecast: pd.DataFrame, title: str) -> go.Figure:
    """history: ds, y (units per bucket); forecast: ds, mean, q05, q20, q80, q95."""
    fig = go.Figure()
    for lo, hi, shade in (
        ("q05", "q95", rgba(GSM_COLOUR, 0.15)),
        ("q20", "q80", rgba(GSM_COLOUR, 0.3)),
    ):
        fig.add_trace(
            go.Scatter(
                x=forecast["ds"],
                y=forecast[hi],
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=forecast["ds"],
                y=forecast[lo],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=shade,
                name=f"{lo[1:]}-{hi[1:]}%",
            )
        )
    fig.add_trace(
        go.Scatter(x=history["ds"], y=history["y"], mode="lines", name="actual", line_color="#333")
    )
    fig.add_trace(
        go.Scatter(
            x=forecast["ds"],
            y=forecast["mean"],
            mode="lines",
            name="forecast mean",
            line_color=GSM_COLOUR,
        )
    )
    fig.update_layout(title=title, yaxis_title="units per bucket", height=360)
    return fig


BULLWHIP_SOURCES = {"history": "history", "simulated_meio": "simulated plan"}


def bullwhip_figure(bullwhip: pd.DataFrame) -> go.Figure:
    """Median ratio (orders placed upstream / demand received, variance of weekly sums) per
    echelon and demand class, of history (plain) and of the simulated plan (hatched); 1 =
    demand passed on as it came."""
    fig = go.Figure()
    if "source" not in bullwhip:
        bullwhip = bullwhip.assign(source="history")
    shown = bullwhip[bullwhip["source"].isin(BULLWHIP_SOURCES)]
    for (source, demand_class), rows in shown.groupby(["source", "demand_class"], sort=True):
        rows = rows.assign(order=rows["location_type"].map(ECHELON_X)).sort_values("order")
        fig.add_trace(
            go.Bar(
                name=f"{demand_class}, {BULLWHIP_SOURCES[source]}",
                x=rows["location_type"],
                y=rows["median_ratio"],
                marker_color=CLASS_COLOURS.get(demand_class, "#999999"),
                marker_pattern_shape="" if source == "history" else "/",
                customdata=rows[["nodes", "pooled_ratio"]],
                hovertemplate="%{x}, "
                + f"{demand_class}, {BULLWHIP_SOURCES[source]}"
                + ": median %{y:.2f} over %{customdata[0]} nodes, pooled %{customdata[1]:.2f}"
                "<extra></extra>",
            )
        )
    fig.add_hline(y=1.0, line_dash="dot", line_color="#888")
    fig.update_layout(
        title="Bullwhip: how much more the orders placed upstream vary than the demand received",
        barmode="group",
        yaxis={"title": "variance ratio (median over nodes)", "type": "log"},
        xaxis={"categoryorder": "array", "categoryarray": list(ECHELON_X)},
        height=420,
    )
    return fig


def action_rows(actions: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Today's actions, largest value first (quantity x the receiving node's unit value)."""
    value = targets.set_index(["sku", "location_id"])["unit_value"]
    keys = pd.MultiIndex.from_frame(actions[["sku", "to_location_id"]])
    out = actions.assign(value=actions["quantity"] * value.reindex(keys).to_numpy())
    return out.sort_values("value", ascending=False).head(TOP_ROWS)[
        ["action", "sku", "from_location_id", "to_location_id", "quantity", "value", "reason"]
    ]


def exception_rows(
    targets: pd.DataFrame, position: pd.DataFrame, simulation: pd.DataFrame
) -> pd.DataFrame:
    """Nodes off plan, largest value first: below the reorder point (value of the units
    short of it), above the target stock (value of the excess), and customer nodes whose
    simulated cycle service falls short of the target by more than 2 points (value of their
    safety stock)."""
    plan = targets.merge(position[["location_id", "sku", "inventory_position"]], how="left")
    plan["inventory_position"] = plan["inventory_position"].fillna(0.0)
    below = plan[plan["inventory_position"] < plan["reorder_point"]]
    excess = plan[plan["inventory_position"] > plan["target_stock_level"]]
    frames = [
        below.assign(
            exception="below reorder point",
            value=(below["reorder_point"] - below["inventory_position"]) * below["unit_value"],
            detail=[
                f"position {p:,.0f} < reorder point {r:,.0f}"
                for p, r in zip(below["inventory_position"], below["reorder_point"], strict=True)
            ],
        ),
        excess.assign(
            exception="excess",
            value=(excess["inventory_position"] - excess["target_stock_level"])
            * excess["unit_value"],
            detail=[
                f"position {p:,.0f} > target {t:,.0f}"
                for p, t in zip(
                    excess["inventory_position"], excess["target_stock_level"], strict=True
                )
            ],
        ),
    ]
    simulated = simulation.loc[
        (simulation["policy"] == "meio") & simulation["is_customer_facing"],
        ["sku", "location_id", "service_level", "cycle_service_level"],
    ].merge(targets[["sku", "location_id", "safety_stock_value"]], on=["sku", "location_id"])
    short = simulated[simulated["cycle_service_level"] < simulated["service_level"] - 0.02]
    frames.append(
        short.assign(
            exception="service short of target",
            value=short["safety_stock_value"],
            detail=[
                f"simulated {a:.1%} for a {t:.1%} target"
                for a, t in zip(short["cycle_service_level"], short["service_level"], strict=True)
            ],
        )
    )
    columns = ["exception", "sku", "location_id", "value", "detail"]
    found = [f[columns] for f in frames if len(f)]
    if not found:
        return pd.DataFrame(columns=columns)
    return pd.concat(found).sort_values("value", ascending=False).head(TOP_ROWS)


def plan_rows(targets: pd.DataFrame, simulation: pd.DataFrame | None) -> pd.DataFrame:
    """The plan per node for the searchable table, largest safety stock value first (at most
    PLAN_ROWS), with the GSM plan's simulated cycle service where simulated."""
    rows = targets.sort_values("safety_stock_value", ascending=False).head(PLAN_ROWS)
    if simulation is not None:
        simulated = simulation.loc[
            simulation["policy"] == "meio", ["sku", "location_id", "cycle_service_level"]
        ]
        rows = rows.merge(simulated, on=["sku", "location_id"], how="left")
    else:
        rows = rows.assign(cycle_service_level=np.nan)
    return rows[
        [
            "sku",
            "location_id",
            "location_type",
            "demand_class",
            "service_level",
            "cycle_service_level",
            "safety_stock",
            "reorder_point",
            "target_stock_level",
            "safety_stock_value",
        ]
    ]


def _html_table(frame: pd.DataFrame, table_id: str = "") -> str:
    """``frame`` as an HTML table, numbers formatted (values and units with thousands
    separators, shares as percentages)."""

    def cell(column: str, value: object) -> str:
        if isinstance(value, float):
            if pd.isna(value):
                return ""
            share = column in ("service_level", "cycle_service_level")
            return f"{value:.1%}" if share else f"{value:,.0f}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{cell(c, v)}</td>" for c, v in zip(frame.columns, row, strict=True))
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    ident = f" id='{table_id}'" if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# filters the plan table's rows by every word typed (item, location, type, class), offline
_SEARCH = """<input id='plan-search' type='search' placeholder='item or location, e.g. SKU-00012 ST-003'
 size='48' oninput="var w=this.value.toLowerCase().split(/\\s+/).filter(Boolean);
 var n=0;document.querySelectorAll('#plan tbody tr').forEach(function(r){
 var t=r.textContent.toLowerCase();var ok=w.every(function(x){return t.indexOf(x)>=0});
 r.style.display=ok?'':'none';if(ok)n++});document.getElementById('plan-count').textContent=n;">
 <span id='plan-count'></span> nodes shown"""


def build_report(
    run_date: dt.date,
    targets: pd.DataFrame,
    network: pd.DataFrame,
    curve: pd.DataFrame,
    fans: list[tuple[str, pd.DataFrame, pd.DataFrame]],
    figures: dict[str, str] | None = None,
    actions: pd.DataFrame | None = None,
    position: pd.DataFrame | None = None,
    simulation: pd.DataFrame | None = None,
    bullwhip: pd.DataFrame | None = None,
) -> str:
    """The report as one HTML string; plotly's JavaScript is inlined once (works offline).
    ``actions``: planner_actions; ``position``: fct_inventory_position; ``simulation``:
    service_simulation; ``bullwhip``: the bullwhip table (each section shown where given)."""
    meio, base = targets["safety_stock_value"].sum(), targets["baseline_safety_stock_value"].sum()
    facts = {
        "plan as of": run_date.isoformat(),
        "items x locations": f"{len(targets):,}",
        "network safety stock value (GSM)": f"{meio:,.0f}",
        "single-echelon safety stock value": f"{base:,.0f}",
        "saving at the same service targets": f"{1 - meio / base:.1%}" if base else "n/a",
        "decoupling points (nodes holding safety stock)": f"{int(targets['is_decoupling_point'].sum()):,}",
        **(figures or {}),
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    sections = [f"<h2>Summary</h2><table>{rows}</table>"]
    if actions is not None:
        sections.append(
            f"<h2>Actions today (largest value first, top {TOP_ROWS})</h2>"
            + _html_table(action_rows(actions, targets))
        )
    if position is not None and simulation is not None:
        sections.append(
            f"<h2>Exceptions (largest value first, top {TOP_ROWS})</h2>"
            + _html_table(exception_rows(targets, position, simulation))
        )
    charts = [network_figure(targets, network), echelon_figure(targets), tradeoff_figure(curve)]
    if bullwhip is not None and len(bullwhip):
        charts.append(bullwhip_figure(bullwhip))
    charts += [fan_figure(h, f, t) for t, h, f in fans]
    parts = [
        pio.to_html(fig, full_html=False, include_plotlyjs=(k == 0)) for k, fig in enumerate(charts)
    ]
    sections += [f"<section>{p}</section>" for p in parts]
    plan = plan_rows(targets, simulation)
    sections.append(
        f"<h2>The plan per node ({len(plan):,} of {len(targets):,}, largest safety stock "
        f"value first)</h2>{_SEARCH}" + _html_table(plan, "plan")
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>MEIO planner report</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse}th,td{padding:4px 12px;border-bottom:1px solid #ddd;"
        "text-align:left}td{font-variant-numeric:tabular-nums}</style>"
        f"</head><body><h1>Inventory plan {run_date.isoformat()}</h1>"
        + "".join(sections)
        + "</body></html>"
    )


def write_report(content: str, serving_dir: Path) -> Path:
    """Write the report aside and swap it in atomically."""
    serving_dir.mkdir(parents=True, exist_ok=True)
    final = serving_dir / REPORT_FILE
    staging = serving_dir / f".{REPORT_FILE}.{os.getpid()}.tmp"
    staging.write_text(content, encoding="utf-8")
    os.replace(staging, final)
    return final
