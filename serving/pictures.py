"""Small static pictures for the Dagster UI's asset metadata (markdown with a data-URI SVG),
drawn with matplotlib's SVG backend (no browser, no GUI).

The HTML planner report draws the same pictures with plotly; both take their colours from
``serving.style`` and their echelon order and network layout from ``serving.layout``.
matplotlib is imported when a picture is drawn, not when the definitions load.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from serving.layout import ECHELON_X, network_nodes
from serving.style import GSM_COLOUR, SERIES_COLOURS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE_INCHES = (6.4, 3.2)  # 640 x 320 px at 100 dpi
COLOURS = SERIES_COLOURS  # the first series is the plan, the second the baseline
NAMED_PER_LAYER = 25  # a layer with more locations is drawn without names


def as_markdown(figure: Figure, title: str) -> str:
    """Markdown that shows ``figure`` as an SVG image in the Dagster UI."""
    data = base64.b64encode(as_svg(figure).encode()).decode()
    return f"![{escape(title)}](data:image/svg+xml;base64,{data})"


def as_svg(figure: Figure) -> str:
    """``figure`` as SVG text: text kept as text, no timestamp, stable ids (same figure, same
    bytes)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "meio"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _figure(title: str) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads

    figure = Figure(figsize=SIZE_INCHES, dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=8)
    return figure, axes


def nice_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """About ``count`` round ticks (steps of 1, 2, 2.5 or 5 x 10^k) from at or below ``low``
    to at or above ``high``."""
    span = (high - low) or 1.0
    raw = span / max(count - 1, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = np.floor(low / step) * step
    last = np.ceil(high / step) * step
    return np.arange(round((last - first) / step) + 1) * step + first


def tick_labels(ticks: np.ndarray) -> list[str]:
    """Tick labels in one unit (k or M, by the largest) with the decimals the step needs:
    0, 250k, 500k, ... or 0.0M, 0.5M, 1.0M; never 507k beside 1.0M."""
    top = float(np.max(np.abs(ticks))) if len(ticks) else 0.0
    scale, suffix = (1e6, "M") if top >= 1e6 else (1e3, "k") if top >= 1e3 else (1.0, "")
    step = float(np.min(np.diff(ticks))) / scale if len(ticks) > 1 else 1.0
    decimals = next((d for d in range(4) if abs(round(step, d) - step) < 1e-9), 3)
    return [f"{t / scale:.{decimals}f}{suffix}" for t in ticks]


def _y_axis(axes: Axes, low: float, high: float, label: str) -> None:
    """Round ticks covering low .. high in one unit, light grid lines behind the data."""
    ticks = nice_ticks(low, high)
    axes.set_yticks(ticks, tick_labels(ticks))
    axes.set_ylim(float(ticks[0]), float(ticks[-1]))
    axes.set_ylabel(label, fontsize=9)
    axes.grid(axis="y", color="#eee")
    axes.set_axisbelow(True)


def bar_chart(
    title: str, categories: Sequence[str], groups: dict[str, Sequence[float]], y_label: str
) -> Figure:
    """Grouped bars: one group of bars per category, one bar per entry of ``groups`` (the
    first in the plan's colour, the second in the baseline's)."""
    figure, axes = _figure(title)
    width = 0.8 / max(len(groups), 1)
    at = np.arange(len(categories))
    for g, (name, values) in enumerate(groups.items()):
        axes.bar(
            at + (g - (len(groups) - 1) / 2) * width,
            np.asarray(values, dtype=float),
            width * 0.95,
            label=name,
            color=COLOURS[g % len(COLOURS)],
        )
    axes.set_xticks(at, [str(c) for c in categories])
    high = max((float(np.max(v)) for v in groups.values() if len(v)), default=0.0) or 1.0
    _y_axis(axes, 0.0, high, y_label)
    axes.legend(fontsize=8, frameon=False)
    return figure


def line_chart(
    title: str,
    x: Sequence[float],
    lines: dict[str, Sequence[float]],
    x_label: str,
    y_label: str,
    band: tuple[Sequence[float], Sequence[float]] | None = None,
) -> Figure:
    """Lines over a shared x axis (NaN = a gap); ``band`` (low, high) is shaded in the plan's
    colour."""
    figure, axes = _figure(title)
    x = np.asarray(x, dtype=float)
    values = [np.asarray(v, dtype=float) for v in lines.values()]
    if band is not None:
        low_band, high_band = (np.asarray(b, dtype=float) for b in band)
        shown = np.isfinite(low_band) & np.isfinite(high_band)
        axes.fill_between(
            x[shown], low_band[shown], high_band[shown], color=GSM_COLOUR, alpha=0.2, linewidth=0
        )
        values += [low_band, high_band]
    for k, (name, ys) in enumerate(lines.items()):
        axes.plot(x, np.asarray(ys, dtype=float), color=COLOURS[k % len(COLOURS)], label=name)
    low = min(0.0, min(float(np.nanmin(v)) for v in values if np.isfinite(v).any()))
    high = max(float(np.nanmax(v)) for v in values if np.isfinite(v).any()) or 1.0
    _y_axis(axes, low, high, y_label)
    axes.set_xlabel(x_label, fontsize=9)
    axes.legend(fontsize=8, frameon=False)
    return figure


def network_picture(targets: pd.DataFrame, network: pd.DataFrame) -> Figure:
    """Locations in echelon columns (supplier -> plant -> DCs -> stores, ``network_layout``), marker
    area ~ the safety stock value held summed over items, lanes as lines; named where a layer has
    at most NAMED_PER_LAYER locations."""
    nodes = network_nodes(targets, network)
    figure, axes = _figure("Safety stock value per location (GSM; marker area = value)")
    at = nodes.set_index("location_id")[["x", "y"]]
    lanes = network[["source_location_id", "destination_location_id"]].drop_duplicates()
    lanes = lanes[
        lanes["source_location_id"].isin(at.index) & lanes["destination_location_id"].isin(at.index)
    ]
    a = at.loc[lanes["source_location_id"]].to_numpy(dtype=float)
    b = at.loc[lanes["destination_location_id"]].to_numpy(dtype=float)
    if len(lanes):
        from matplotlib.collections import LineCollection

        axes.add_collection(
            LineCollection(np.stack([a, b], axis=1), colors="#ccc", linewidths=0.6, zorder=1)
        )
    top = max(float(nodes["safety_stock_value"].max()), 1.0)
    sizes = 6 + 300 * nodes["safety_stock_value"].clip(lower=0.0).to_numpy() / top
    axes.scatter(
        nodes["x"], nodes["y"], s=sizes, color=GSM_COLOUR, alpha=0.75, linewidths=0, zorder=2
    )
    named = nodes.groupby("x")["location_id"].transform("size") <= NAMED_PER_LAYER
    for node in nodes[named].itertuples(index=False):
        axes.annotate(
            node.location_id,
            (node.x, node.y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    axes.set_xticks(list(ECHELON_X.values()), list(ECHELON_X))
    axes.set_xlim(-0.3, len(ECHELON_X) - 0.5)
    axes.set_yticks([])
    axes.spines[["left"]].set_visible(False)
    return figure
