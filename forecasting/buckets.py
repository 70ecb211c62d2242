"""Planning buckets: daily demand summed into whole calendar buckets, and the node key of a
series. Light (pandas only): the warehouse reads and the report use it without loading the
forecasting models.

Buckets are fixed in the calendar: ``bucket_days`` days counted from Monday 2000-01-03 (weeks
of 7 days run Monday to Sunday, ISO weeks). The latest bucket used is the last one complete by
the latest day, so the days of a week not yet over wait for its end: on the six days after a
week ends the history, the demand classes and the forecasts are those of the day before, and
the plan moves once a week instead of every day as each day re-cut every bucket (at 2,000
items, 15.6% of nodes changed demand class and 53% their reorder point from one day to the
next when buckets ended on the latest day).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

SEP = "|"  # unique_id of a node's series: location_id|sku
BUCKET_EPOCH = pd.Timestamp("2000-01-03")  # a Monday: the first day of the calendar's buckets


def bucket_end(day: dt.date | pd.Timestamp, bucket_days: int) -> pd.Timestamp:
    """The last day of the latest calendar bucket complete on ``day`` (``day`` itself when a
    bucket ends that day; daily buckets: always ``day``)."""
    day = pd.Timestamp(day)
    return day - pd.Timedelta(days=((day - BUCKET_EPOCH).days + 1) % bucket_days)


def bucket_demand(
    daily: pd.DataFrame,
    bucket_days: int,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Daily demand (location_id, sku, demand_date, demand_qty) to the whole calendar buckets
    of ``period`` (first and last demand date; default: those of ``daily``; give it to bucket
    a large mart in chunks of items alike): location_id, sku, ds (bucket start), y (units per
    bucket). Incomplete buckets, the oldest and the latest, are left out (``bucket_end``)."""
    dates = pd.to_datetime(daily["demand_date"])
    first, last = (
        (dates.min(), dates.max())
        if period is None
        else (pd.Timestamp(period[0]), pd.Timestamp(period[1]))
    )
    last = bucket_end(last, bucket_days)
    back = (last - dates).dt.days // bucket_days
    complete = (dates <= last) & (back < whole_buckets(first, last, bucket_days))
    out = pd.DataFrame(
        {
            "location_id": daily["location_id"].to_numpy()[complete],
            "sku": daily["sku"].to_numpy()[complete],
            "ds": last - pd.to_timedelta((back[complete] + 1) * bucket_days - 1, unit="D"),
            "y": daily["demand_qty"].to_numpy()[complete],
        }
    )
    out = out.groupby(["location_id", "sku", "ds"], as_index=False, sort=False)["y"].sum()
    return out.sort_values(["location_id", "sku", "ds"], ignore_index=True)


def whole_buckets(first: dt.date, last: dt.date, bucket_days: int) -> int:
    """Buckets of ``bucket_days`` that fit whole between the first and last day (inclusive),
    counted back from the last day (a ``bucket_end``): the buckets ``bucket_demand`` keeps."""
    return ((pd.Timestamp(last) - pd.Timestamp(first)).days + 1) // bucket_days
