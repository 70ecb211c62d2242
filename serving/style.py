"""One palette for every picture (the planner report and the Dagster metadata SVGs): the GSM
plan in blue, the single-echelon baseline in red, further series after them."""

GSM_COLOUR = "#2a7ab9"
BASELINE_COLOUR = "#c8553d"
SERIES_COLOURS = (GSM_COLOUR, BASELINE_COLOUR, "#3a9d5d", "#8e6bb8", "#b8860b")


def rgba(colour: str, alpha: float) -> str:
    """``colour`` ('#rrggbb') with opacity ``alpha``, as CSS rgba()."""
    red, green, blue = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


# demand classes (not the plan or the baseline: neither blue nor red)
CLASS_COLOURS = {
    "all": "#6b6b6b",
    "smooth": "#3a9d5d",
    "erratic": "#b8860b",
    "intermittent": "#8e6bb8",
    "lumpy": "#4bb3c1",
    "no_demand": "#bbbbbb",
}
