"""The pictures for asset metadata draw the data they are given, in the report's colours and
echelon order, and embed as well-formed SVG."""

import base64
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from serving import pictures
from serving.style import BASELINE_COLOUR, GSM_COLOUR

SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> list[str]:
    return [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.text]


def test_bar_chart_draws_one_bar_per_value_in_plan_and_baseline_colours():
    figure = pictures.bar_chart(
        "by echelon", ["DC", "STORE"], {"plan": [1.0, 2.0], "baseline": [3.0, 0.5]}, "value"
    )
    bars = figure.axes[0].patches
    assert [b.get_height() for b in bars] == [1.0, 2.0, 3.0, 0.5]
    assert [to_hex(b.get_facecolor()) for b in bars] == [GSM_COLOUR] * 2 + [BASELINE_COLOUR] * 2
    svg = pictures.as_svg(figure)
    assert {"by echelon", "DC", "STORE", "plan", "baseline", "value"} <= set(_texts(svg))


def test_line_chart_leaves_gaps_and_shades_the_band_where_it_is_known():
    figure = pictures.line_chart(
        "fan",
        np.arange(6),
        {"history": [1, 2, 3, np.nan, np.nan, np.nan], "forecast": [np.nan, np.nan, 3, 4, 5, 6]},
        "week",
        "units",
        band=([np.nan, np.nan, np.nan, 3, 4, 5], [np.nan, np.nan, np.nan, 5, 6, 7]),
    )
    axes = figure.axes[0]
    history, forecast = axes.get_lines()
    assert np.isfinite(history.get_ydata()).sum() == 3
    assert np.isfinite(forecast.get_ydata()).sum() == 4
    (band,) = axes.collections
    shaded_x = band.get_paths()[0].vertices[:, 0]
    assert shaded_x.min() == 3 and shaded_x.max() == 5
    assert axes.get_ylim() == (0.0, 8.0)  # round ticks cover the band's top
    assert "nan" not in pictures.as_svg(figure)


def test_network_picture_sizes_nodes_by_safety_stock_in_echelon_order_and_embeds():
    targets = pd.DataFrame(
        {
            "location_id": ["PLT", "DC", "S1", "S2"],
            "location_type": ["PLANT", "DC", "STORE", "STORE"],
            "safety_stock_value": [0.0, 400.0, 100.0, 25.0],
        }
    )
    network = pd.DataFrame(
        {
            "source_location_id": ["SUP", "PLT", "DC", "DC"],
            "source_location_type": ["SUPPLIER", "PLANT", "DC", "DC"],
            "destination_location_id": ["PLT", "DC", "S1", "S2"],
        }
    )
    figure = pictures.network_picture(targets, network)
    axes = figure.axes[0]
    (nodes,) = axes.collections[1:]  # after the lanes
    at = dict(zip(map(tuple, nodes.get_offsets()), nodes.get_sizes(), strict=True))
    x = {t.get_text(): t.xy for t in axes.texts}
    size = {name: at[tuple(x[name])] for name in x}
    assert size["DC"] > size["S1"] > size["S2"] > size["PLT"] == size["SUP"]
    assert x["SUP"][0] < x["PLT"][0] < x["DC"][0] < x["S1"][0] == x["S2"][0]
    assert [t.get_text() for t in axes.get_xticklabels()][:4] == [
        "SUPPLIER",
        "PLANT",
        "DC",
        "STORE",
    ]
    markdown = pictures.as_markdown(figure, "network")
    svg = base64.b64decode(markdown.split("base64,")[1].rstrip(")")).decode()
    assert ET.fromstring(svg).tag == f"{SVG}svg"
    assert svg == pictures.as_svg(figure)  # the same figure gives the same bytes


def test_axis_ticks_are_round_and_labelled_in_one_unit():
    ticks = pictures.nice_ticks(0, 1_115_000)
    assert ticks.tolist() == [0, 500_000, 1_000_000, 1_500_000]
    assert pictures.tick_labels(ticks) == ["0.0M", "0.5M", "1.0M", "1.5M"]  # never 507k by 1.0M
    assert pictures.tick_labels(pictures.nice_ticks(0.9, 0.97)) == [
        "0.90",
        "0.92",
        "0.94",
        "0.96",
        "0.98",
    ]
    assert pictures.tick_labels(pictures.nice_ticks(0, 57)) == ["0", "20", "40", "60"]


@pytest.mark.parametrize("dcs, stores", [(3, 20), (5, 50)])
def test_network_picture_draws_every_location_at_scale(dcs, stores):
    stores_ids = [f"S{k:03d}" for k in range(stores)]
    dc_ids = [f"DC{k}" for k in range(dcs)]
    targets = pd.DataFrame(
        {
            "location_id": ["PLT", *dc_ids, *stores_ids],
            "location_type": ["PLANT"] + ["DC"] * dcs + ["STORE"] * stores,
            "safety_stock_value": np.linspace(0, 100, 1 + dcs + stores),
        }
    )
    network = pd.DataFrame(
        {
            "source_location_id": ["PLT"] * dcs + [dc_ids[k % dcs] for k in range(stores)],
            "source_location_type": ["PLANT"] * dcs + ["DC"] * stores,
            "destination_location_id": dc_ids + stores_ids,
        }
    )
    axes = pictures.network_picture(targets, network).axes[0]
    lanes, nodes = axes.collections
    assert len(nodes.get_offsets()) == 1 + dcs + stores
    assert len(lanes.get_segments()) == dcs + stores
    named = {t.get_text() for t in axes.texts}
    assert ("S000" in named) == (stores <= pictures.NAMED_PER_LAYER)
