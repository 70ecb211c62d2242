"""Settings written once: a domain dataclass declares each setting's default, unit and allowed
range with ``setting``; ``check_ranges`` enforces the ranges when the dataclass is built, and the
orchestration layer derives its run configuration from the same fields (never a copy).
"""

from __future__ import annotations

import dataclasses
from typing import Any


def setting(
    default: Any = dataclasses.MISSING,
    *,
    unit: str,
    doc: str,
    low: float | None = None,
    high: float | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field carrying its unit, a one-line meaning and its closed range
    [low, high] (None: open on that side; checked on numbers only, None values pass)."""
    metadata = {"unit": unit, "doc": doc, "low": low, "high": high}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def describe(field: dataclasses.Field) -> str:
    """The field's meaning, unit and range in one line (for run-config descriptions)."""
    meta = field.metadata
    if "doc" not in meta:
        return ""
    bounded = meta["low"] is not None or meta["high"] is not None
    bounds = f", in {_range_text(meta['low'], meta['high'])}" if bounded else ""
    return f"{meta['doc']} ({meta['unit']}{bounds})"


def _range_text(low: float | None, high: float | None) -> str:
    """A closed range as text, an open side as -inf or inf: [0.5, 0.9999]."""
    return f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"


def check_ranges(settings: Any) -> None:
    """ValueError naming the dataclass, the field, its value and range for the first setting
    outside its range."""
    for field in dataclasses.fields(settings):
        low, high = field.metadata.get("low"), field.metadata.get("high")
        value = getattr(settings, field.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(
                f"{type(settings).__name__}.{field.name} = {value!r} is outside its range "
                f"{_range_text(low, high)} ({field.metadata['unit']})"
            )


def settings_except(settings: Any, excluded: tuple[str, ...]) -> dict[str, Any]:
    """A settings dataclass's values by name, without ``excluded`` (the settings that change
    where or how fast a result is made, not the result: what stored results are keyed on)."""
    return {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if f.name not in excluded
    }
