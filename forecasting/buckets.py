"""Planning buckets: daily demand summed into whole buckets counted back from the last day, and
the node key of a series. Light (pandas only): the warehouse reads and the report use it
without loading the forecasting models."""

from __future__ import annotations

import datetime as dt

import pandas as pd

SEP = "|"  # unique_id of a node's series: location_id|sku


def bucket_demand(
    daily: pd.DataFrame,
    bucket_days: int,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Daily demand (location_id, sku, demand_date, demand_qty) to whole buckets ending on the
    last day of ``period`` (first and last demand date; default: those of ``daily``; give it
    to bucket a large mart in chunks of items alike): location_id, sku, ds (bucket start),
    y (units per bucket). An incomplete oldest bucket is left out."""
    dates = pd.to_datetime(daily["demand_date"])
    first, last = (
        (dates.min(), dates.max())
        if period is None
        else (pd.Timestamp(period[0]), pd.Timestamp(period[1]))
    )
    back = (last - dates).dt.days // bucket_days
    complete = back < whole_buckets(first, last, bucket_days)
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
    counted back from the last day: the buckets ``bucket_demand`` keeps."""
    return ((pd.Timestamp(last) - pd.Timestamp(first)).days + 1) // bucket_days
