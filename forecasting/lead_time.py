"""Lead-time demand per node: the forecast summed over the next 1..P days, with the
back-test errors' correlation across steps (``error_correlation``)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def error_correlation(errors: pd.DataFrame, chosen: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Per demand class and k: variance of the k-bucket sum of errors over the sum of the k
    per-bucket error variances (1 for independent errors; > 1 when errors persist)."""
    picked = errors.merge(chosen[["unique_id", "model", "demand_class"]], on=["unique_id", "model"])
    rows = []
    if picked.empty:
        return pd.DataFrame(
            {"demand_class": "all", "k": np.arange(1, horizon + 1), "variance_ratio": 1.0}
        )
    picked = picked.sort_values(["unique_id", "cutoff", "step"])
    picked["e"] = picked["y"] - picked["point"]
    picked["e_sum"] = picked.groupby(["unique_id", "cutoff"])["e"].cumsum()
    picked["e_sq_sum"] = (
        (picked["e"] ** 2).groupby([picked["unique_id"], picked["cutoff"]]).cumsum()
    )
    for demand_class, part in [("all", picked), *picked.groupby("demand_class")]:
        by_k = part.groupby("step").agg(
            num=("e_sum", lambda s: float((s**2).mean())), den=("e_sq_sum", "mean")
        )
        ratio = (
            (by_k["num"] / by_k["den"].replace(0, np.nan)).fillna(1.0).clip(0.25, float(horizon))
        )
        rows.append(
            pd.DataFrame(
                {
                    "demand_class": demand_class,
                    "k": by_k.index.to_numpy(),
                    "variance_ratio": ratio.to_numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def lead_time_demand(
    fc: pd.DataFrame,
    chosen: pd.DataFrame,
    correlation: pd.DataFrame,
    bucket_days: int,
    max_days: int | None = None,
) -> pd.DataFrame:
    """Mean and sd of demand summed over the next 1..max_days days, per series (units).

    Per-bucket sd is the forecast's (``forecast_sd``); the sd of a k-bucket sum is
    sqrt(sum of per-bucket variances x variance_ratio(k)) with the ratio measured on the
    model's own back-test errors (not assumed to be 1). Fractional buckets interpolate the
    cumulative mean and variance linearly.
    """
    fc = fc.sort_values(["unique_id", "step"])
    ids = fc["unique_id"].unique()
    horizon = int(fc["step"].max())
    mean = fc["mean"].to_numpy(float).reshape(len(ids), horizon)
    sd = fc["sd"].to_numpy(float).reshape(len(ids), horizon)
    classes = chosen.set_index("unique_id").loc[ids, "demand_class"].to_numpy()
    ratio = np.ones((len(ids), horizon))
    for demand_class in np.unique(classes):
        part = correlation[correlation["demand_class"] == demand_class]
        if part.empty:
            part = correlation[correlation["demand_class"] == "all"]
        values = (
            part.set_index("k")["variance_ratio"]
            .reindex(range(1, horizon + 1))
            .ffill()
            .fillna(1.0)
            .to_numpy()
        )
        ratio[classes == demand_class] = values
    cum_mean = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(mean, axis=1)], axis=1)
    cum_var = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(sd**2, axis=1) * ratio], axis=1)
    cum_var = np.maximum.accumulate(cum_var, axis=1)  # a longer lead time never has less spread
    max_days = max_days or horizon * bucket_days
    days = np.arange(1, max_days + 1)
    buckets = np.minimum(days / bucket_days, horizon)
    lower = np.floor(buckets).astype(int)
    upper = np.minimum(lower + 1, horizon)
    frac = buckets - lower
    m = cum_mean[:, lower] * (1 - frac) + cum_mean[:, upper] * frac
    v = cum_var[:, lower] * (1 - frac) + cum_var[:, upper] * frac
    return pd.DataFrame(
        {
            "unique_id": np.repeat(ids, len(days)),
            "periods": np.tile(days, len(ids)),
            "mean": m.reshape(-1),
            "sd": np.sqrt(v).reshape(-1),
        }
    )
