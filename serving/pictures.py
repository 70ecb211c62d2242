"""Small static SVG pictures for the Dagster UI's asset metadata (markdown with a data-URI image).

The HTML planner report uses plotly; these are the same pictures without JavaScript, since
Dagster's metadata shows images, not scripts (and plotly's static export needs a browser).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

import numpy as np
import pandas as pd

from extracts.contract import LOCATION_TYPES
from serving.style import GSM_COLOUR, SERIES_COLOURS

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 36, 46
COLOURS = SERIES_COLOURS  # the first series is the plan, the second the baseline


def as_markdown(svg: str, title: str) -> str:
    """Markdown that shows ``svg`` in the Dagster UI."""
    data = base64.b64encode(svg.encode()).decode()
    return f"![{escape(title)}](data:image/svg+xml;base64,{data})"


def _frame(title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _scale(values: np.ndarray, low: float, high: float, out_low: float, out_high: float):
    span = (high - low) or 1.0
    return out_low + (np.asarray(values, dtype=float) - low) / span * (out_high - out_low)


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


def _tick_labels(ticks: np.ndarray) -> list[str]:
    """Tick labels in one unit (k or M, by the largest) with the decimals the step needs:
    0, 250k, 500k, ... or 0.0M, 0.5M, 1.0M; never 507k beside 1.0M."""
    top = float(np.max(np.abs(ticks))) if len(ticks) else 0.0
    scale, suffix = (1e6, "M") if top >= 1e6 else (1e3, "k") if top >= 1e3 else (1.0, "")
    step = float(np.min(np.diff(ticks))) / scale if len(ticks) > 1 else 1.0
    decimals = next((d for d in range(4) if abs(round(step, d) - step) < 1e-9), 3)
    return [f"{t / scale:.{decimals}f}{suffix}" for t in ticks]


def _y_axis(low: float, high: float, label: str) -> tuple[list[str], float, float]:
    """The y axis over round ticks covering low .. high: its SVG parts and the axis' own
    low and high (the round ticks' ends), which the plot must scale to."""
    ticks = nice_ticks(low, high)
    low, high = float(ticks[0]), float(ticks[-1])
    parts = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#333"/>']
    for tick, text in zip(ticks, _tick_labels(ticks), strict=True):
        y = _scale(tick, low, high, HEIGHT - BOTTOM, TOP)
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>'
        )
    parts.append(
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" transform="rotate(-90 14 '
        f'{(TOP + HEIGHT - BOTTOM) / 2})" text-anchor="middle">{escape(label)}</text>'
    )
    return parts, low, high


def _short(value: float) -> str:
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.1f}M"
    if size >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.3g}"


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    for k, name in enumerate(names):
        x = LEFT + 10 + k * 170
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{COLOURS[k % 5]}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 7}">{escape(name)}</text>'
        )
    return parts


def bar_chart(
    title: str, categories: Sequence[str], groups: dict[str, Sequence[float]], y_label: str
) -> str:
    """Grouped bars: one group of bars per category, one bar per entry of ``groups``."""
    high = max(float(np.max(v)) for v in groups.values()) or 1.0
    body, _, high = _y_axis(0.0, high, y_label)
    slot = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    width = slot * 0.8 / max(len(groups), 1)
    for c, category in enumerate(categories):
        x0 = LEFT + c * slot + slot * 0.1
        for g, values in enumerate(groups.values()):
            y = _scale(values[c], 0.0, high, HEIGHT - BOTTOM, TOP)
            body.append(
                f'<rect x="{x0 + g * width:.1f}" y="{y:.1f}" width="{width - 2:.1f}" '
                f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{COLOURS[g % 5]}"/>'
            )
        body.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{HEIGHT - BOTTOM + 14}" '
            f'text-anchor="middle">{escape(str(category))}</text>'
        )
    return _frame(title, body + _legend(list(groups)))


def line_chart(
    title: str,
    x: Sequence[float],
    lines: dict[str, Sequence[float]],
    x_label: str,
    y_label: str,
    band: tuple[Sequence[float], Sequence[float]] | None = None,
) -> str:
    """Lines over a shared x axis; ``band`` (low, high) is shaded under the first line."""
    x = np.asarray(x, dtype=float)
    values = [np.asarray(v, dtype=float) for v in lines.values()]
    if band is not None:
        values += [np.asarray(b, dtype=float) for b in band]
    low = min(0.0, min(float(np.nanmin(v)) for v in values))
    high = max(float(np.nanmax(v)) for v in values) or 1.0
    body, low, high = _y_axis(low, high, y_label)
    xs = _scale(x, float(x.min()), float(x.max()), LEFT + 10, WIDTH - RIGHT - 10)
    if band is not None:
        upper = _scale(band[1], low, high, HEIGHT - BOTTOM, TOP)
        lower = _scale(band[0], low, high, HEIGHT - BOTTOM, TOP)
        shown = np.isfinite(upper) & np.isfinite(lower)
        bx, upper, lower = xs[shown], upper[shown], lower[shown]
        points = list(zip(bx, upper, strict=True)) + list(zip(bx[::-1], lower[::-1], strict=True))
        body.append(
            f'<polygon fill="{GSM_COLOUR}" fill-opacity="0.2" points="'
            + " ".join(f"{a:.1f},{b:.1f}" for a, b in points)
            + '"/>'
        )
    for k, ys in enumerate(lines.values()):
        ys = _scale(ys, low, high, HEIGHT - BOTTOM, TOP)
        shown = np.isfinite(ys)  # gaps (NaN) are left out
        body.append(
            f'<polyline fill="none" stroke="{COLOURS[k % 5]}" stroke-width="2" points="'
            + " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs[shown], ys[shown], strict=True))
            + '"/>'
        )
    for tick in np.linspace(float(x.min()), float(x.max()), 5):
        tx = _scale(tick, float(x.min()), float(x.max()), LEFT + 10, WIDTH - RIGHT - 10)
        body.append(
            f'<text x="{tx:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{_short(tick)}</text>'
        )
    body.append(
        f'<text x="{(LEFT + WIDTH) / 2}" y="{HEIGHT - BOTTOM + 28}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    return _frame(title, body + _legend(list(lines)))


def network_picture(targets: pd.DataFrame, network: pd.DataFrame) -> str:
    """Locations in echelon columns (plant -> DCs -> stores), circle area ~ safety stock value
    summed over items, lanes as lines."""
    value = targets.groupby(["location_id", "location_type"])["safety_stock_value"].sum()
    value = value.reset_index()
    order = {t: k for k, t in enumerate(t for t in LOCATION_TYPES if t != "SUPPLIER")}
    value["column"] = value["location_type"].map(order).fillna(1)
    positions: dict[str, tuple[float, float]] = {}
    parents = network.groupby("destination_location_id")["source_location_id"].agg(list).to_dict()
    for column, nodes in value.groupby("column"):
        # under their supplier: order by the supplier's height, then id
        above = [
            min((positions[p][1] for p in parents.get(loc, []) if p in positions), default=0.0)
            for loc in nodes["location_id"]
        ]
        nodes = nodes.assign(above=above).sort_values(["above", "location_id"])
        xs = _scale(column, 0, 2, LEFT, WIDTH - RIGHT - 40)
        ys = np.linspace(TOP + 16, HEIGHT - BOTTOM, len(nodes) + 2)[1:-1]
        positions.update(
            {loc: (float(xs), float(y)) for loc, y in zip(nodes["location_id"], ys, strict=True)}
        )
    body = []
    lanes = network[["source_location_id", "destination_location_id"]].drop_duplicates()
    for lane in lanes.itertuples(index=False):
        if lane.source_location_id in positions and lane.destination_location_id in positions:
            (x1, y1), (x2, y2) = (
                positions[lane.source_location_id],
                positions[lane.destination_location_id],
            )
            body.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#ccc"/>'
            )
    biggest = max(float(value["safety_stock_value"].max()), 1.0)
    for node in value.itertuples(index=False):
        x, y = positions[node.location_id]
        radius = 3 + 22 * np.sqrt(max(node.safety_stock_value, 0.0) / biggest)
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{COLOURS[int(node.column) % 5]}" '
            f'fill-opacity="0.7"><title>{escape(node.location_id)}: {node.safety_stock_value:,.0f}</title></circle>'
        )
        if node.location_type != "STORE":
            body.append(
                f'<text x="{x + radius + 3:.1f}" y="{y + 4:.1f}">{escape(node.location_id)}</text>'
            )
    return _frame("Safety stock value per location (GSM)", body)
