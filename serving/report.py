"""The planner report: one self-contained HTML file (opens offline) with the plan's pictures.

Pictures: the network with safety stock per node (echelon layout), GSM vs single-echelon safety
stock by echelon, the service-vs-inventory curve, and forecast fan charts for the largest nodes.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from extracts.contract import LOCATION_TYPES

# echelons left to right in the network's order (the contract's location types), everywhere
ECHELON_X = {location_type: k for k, location_type in enumerate(LOCATION_TYPES)}
REPORT_FILE = "planner_report.html"


def network_figure(targets: pd.DataFrame, network: pd.DataFrame) -> go.Figure:
    """Locations by echelon (left to right), sized by the safety stock value they hold."""
    held = targets.groupby(["location_id", "location_type"], as_index=False)[
        "safety_stock_value"
    ].sum()
    suppliers = network.loc[
        network["source_location_type"] == "SUPPLIER", "source_location_id"
    ].unique()
    nodes = pd.concat(
        [
            held,
            pd.DataFrame(
                {"location_id": suppliers, "location_type": "SUPPLIER", "safety_stock_value": 0.0}
            ),
        ],
        ignore_index=True,
    )
    nodes["x"] = nodes["location_type"].map(ECHELON_X)
    nodes = nodes.sort_values(["x", "location_id"])
    nodes["y"] = nodes.groupby("x").cumcount()
    nodes["y"] = nodes["y"] - nodes.groupby("x")["y"].transform("max") / 2
    where = nodes.set_index("location_id")[["x", "y"]]
    lanes = network[["source_location_id", "destination_location_id"]].drop_duplicates()
    lanes = lanes[
        lanes["source_location_id"].isin(where.index)
        & lanes["destination_location_id"].isin(where.index)
    ]
    fig = go.Figure()
    xs, ys = [], []
    for lane in lanes.itertuples(index=False):
        a, b = where.loc[lane.source_location_id], where.loc[lane.destination_location_id]
        xs += [a.x, b.x, None]
        ys += [a.y, b.y, None]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
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
            text=nodes["location_id"],
            textposition="top center",
            marker={
                "size": 8 + 40 * (nodes["safety_stock_value"] / top) ** 0.5,
                "color": "#2a7ab9",
            },
            customdata=nodes[["safety_stock_value"]],
            hovertemplate="%{text}<br>safety stock value %{customdata[0]:,.0f}<extra></extra>",
            name="locations",
        )
    )
    fig.update_layout(
        title="Where the safety stock sits (marker area = safety stock value)",
        xaxis={
            "tickvals": list(ECHELON_X.values()),
            "ticktext": list(ECHELON_X),
            "showgrid": False,
        },
        yaxis={"visible": False},
        showlegend=False,
        height=520,
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
                marker_color="#c8553d",
            ),
            go.Bar(
                name="multi-echelon (GSM)",
                x=by.index,
                y=by["safety_stock_value"],
                marker_color="#2a7ab9",
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
                line_color="#c8553d",
            ),
            go.Scatter(
                x=curve["service_level"] * 100,
                y=curve["meio_safety_stock_value"],
                name="multi-echelon (GSM)",
                mode="lines+markers",
                line_color="#2a7ab9",
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
        ("q05", "q95", "rgba(42,122,185,0.15)"),
        ("q20", "q80", "rgba(42,122,185,0.3)"),
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
            line_color="#2a7ab9",
        )
    )
    fig.update_layout(title=title, yaxis_title="units per bucket", height=360)
    return fig


def build_report(
    run_date: dt.date,
    targets: pd.DataFrame,
    network: pd.DataFrame,
    curve: pd.DataFrame,
    fans: list[tuple[str, pd.DataFrame, pd.DataFrame]],
    figures: dict[str, str] | None = None,
) -> str:
    """The report as one HTML string; plotly's JavaScript is inlined once (works offline)."""
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
    charts = [network_figure(targets, network), echelon_figure(targets), tradeoff_figure(curve)]
    charts += [fan_figure(h, f, t) for t, h, f in fans]
    parts = [
        pio.to_html(fig, full_html=False, include_plotlyjs=(k == 0)) for k, fig in enumerate(charts)
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>MEIO planner report</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse}th,td{padding:4px 12px;border-bottom:1px solid #ddd;text-align:left}</style>"
        f"</head><body><h1>Inventory plan {run_date.isoformat()}</h1><h2>Summary</h2><table>{rows}</table>"
        + "".join(f"<section>{p}</section>" for p in parts)
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
