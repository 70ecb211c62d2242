"""The SVG pictures for asset metadata are well-formed and carry the data they show."""

import base64
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from serving import pictures

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_bar_chart_draws_one_bar_per_value():
    svg = pictures.bar_chart("t", ["DC", "STORE"], {"a": [1.0, 2.0], "b": [3.0, 0.5]}, "value")
    rects = list(_parse(svg).iter(f"{SVG}rect"))[1:]  # after the white background
    heights = [float(r.get("height")) for r in rects if float(r.get("height")) != 10]  # legend
    assert len(heights) == 4
    assert heights[1] == max(heights)
    assert heights[1] == pytest.approx(6 * heights[3], rel=0.01)


def test_line_chart_skips_gaps_and_shades_the_band():
    x = np.arange(6)
    svg = pictures.line_chart(
        "fan",
        x,
        {"history": [1, 2, 3, np.nan, np.nan, np.nan], "forecast": [np.nan, np.nan, 3, 4, 5, 6]},
        "week",
        "units",
        band=([np.nan, np.nan, np.nan, 3, 4, 5], [np.nan, np.nan, np.nan, 5, 6, 7]),
    )
    root = _parse(svg)
    lines = [p.get("points").split() for p in root.iter(f"{SVG}polyline")]
    assert [len(points) for points in lines] == [3, 4]
    assert "nan" not in svg
    assert len(root.find(f"{SVG}polygon").get("points").split()) == 6


def test_network_picture_sizes_nodes_by_safety_stock_and_embeds_as_markdown():
    targets = pd.DataFrame(
        {
            "location_id": ["PLT", "DC", "S1", "S2"],
            "location_type": ["PLANT", "DC", "STORE", "STORE"],
            "safety_stock_value": [0.0, 400.0, 100.0, 25.0],
        }
    )
    network = pd.DataFrame(
        {"source_location_id": ["PLT", "DC", "DC"], "destination_location_id": ["DC", "S1", "S2"]}
    )
    svg = pictures.network_picture(targets, network)
    radius = {
        c.find(f"{SVG}title").text.split(":")[0]: float(c.get("r"))
        for c in _parse(svg).iter(f"{SVG}circle")
    }
    assert radius["DC"] > radius["S1"] > radius["S2"] > radius["PLT"]
    markdown = pictures.as_markdown(svg, "network")
    encoded = markdown.split("base64,")[1].rstrip(")")
    assert base64.b64decode(encoded).decode() == svg


def test_axis_ticks_are_round_and_labelled_in_one_unit():
    from serving.pictures import _tick_labels, nice_ticks

    ticks = nice_ticks(0, 1_115_000)
    assert ticks.tolist() == [0, 500_000, 1_000_000, 1_500_000]
    assert _tick_labels(ticks) == ["0.0M", "0.5M", "1.0M", "1.5M"]  # never 507k beside 1.0M
    assert _tick_labels(nice_ticks(0.9, 0.97)) == ["0.90", "0.92", "0.94", "0.96", "0.98"]
    assert _tick_labels(nice_ticks(0, 57)) == ["0", "20", "40", "60"]
