"""Seeded, deterministic demo extracts for a supplier -> plant -> DCs -> stores network.

The first landing day holds the whole backlog (two years of history by default); later days
hold that day's transactions. Demand has trend, weekly and yearly seasonality, chain-wide
promotions and intermittent slow movers; lanes have their own lead-time variability; and the
files carry the usual mess: re-sent rows, late-arriving rows, corrections, returns as negative
quantities, cancelled lines, mixed date strings and stray whitespace / case in ids.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_END_DATE = dt.date(2026, 11, 20)
WEEKLY_PROFILE = np.array([0.9, 0.85, 0.9, 1.0, 1.15, 1.35, 0.85])  # Monday .. Sunday


@dataclass(frozen=True)
class DemoConfig:
    """Size and shape of the demo network; every figure is a count or days."""

    stores: int = 20
    dcs: int = 3
    items: int = 200
    history_days: int = 730
    drop_days: int = 3
    end_date: dt.date = DEFAULT_END_DATE
    seed: int = 7
    assortment_share: float = 0.75
    slow_mover_share: float = 0.3
    direct_import_share: float = 0.1


def _locations(cfg: DemoConfig) -> pd.DataFrame:
    rows = [
        ("SUP-01", "SUPPLIER", "GLOBAL", "Main supplier"),
        ("PLT-01", "PLANT", "CENTRAL", "Plant"),
    ]
    regions = ["NORTH", "CENTRAL", "SOUTH", "EAST", "WEST", "COAST", "MOUNTAIN", "LAKES"]
    for d in range(cfg.dcs):
        rows.append(
            (f"DC-{d + 1:02d}", "DC", regions[d % len(regions)], f"Distribution center {d + 1}")
        )
    for s in range(cfg.stores):
        dc = s % cfg.dcs
        rows.append((f"ST-{s + 1:03d}", "STORE", regions[dc % len(regions)], f"Store {s + 1}"))
    return pd.DataFrame(rows, columns=["location_id", "location_type", "region", "description"])


def _items(cfg: DemoConfig, rng: np.random.Generator) -> pd.DataFrame:
    n = cfg.items
    lot = rng.choice([1, 1, 1, 6, 12, 24], size=n)
    return pd.DataFrame(
        {
            "sku": [f"SKU-{i + 1:05d}" for i in range(n)],
            "description": [f"Item {i + 1}" for i in range(n)],
            "unit_cost": np.round(rng.lognormal(3.0, 0.8, size=n), 2),
            "unit_of_measure": rng.choice(["EA", "EA", "EA", "CS", "KG"], size=n),
            "lot_size": lot,
            "moq": lot * rng.choice([1, 2, 4], size=n),
        }
    )


def _daily_demand(cfg: DemoConfig, rng: np.random.Generator, dates: pd.DatetimeIndex):
    """Demand array (stores, items, days) in units, and the assortment mask (stores, items)."""
    n_s, n_i, n_d = cfg.stores, cfg.items, len(dates)
    carried = rng.random((n_s, n_i)) < cfg.assortment_share
    carried[rng.integers(0, n_s, size=n_i), np.arange(n_i)] = True
    slow = rng.random(n_i) < cfg.slow_mover_share
    base = np.where(slow, rng.uniform(0.03, 0.35, n_i), rng.lognormal(0.8, 0.8, n_i))
    lump = np.where(slow, rng.uniform(0.0, 3.0, n_i), 0.0)
    store_size = rng.lognormal(0.0, 0.35, n_s)
    t_years = np.arange(n_d) / 365.25
    trend = 1.0 + np.outer(rng.uniform(-0.15, 0.3, n_i), t_years)
    amp_year = rng.uniform(0.0, 0.35, n_i)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n_i)[:, None]
    yearly = 1.0 + amp_year * np.sin(2 * np.pi * (dates.dayofyear.values[None, :] / 365.25) + phase)
    amp_week = rng.uniform(0.3, 1.0, n_i)[:, None]
    weekly = 1.0 + amp_week * (WEEKLY_PROFILE[dates.dayofweek.values][None, :] - 1.0)
    promo = np.ones((n_i, n_d))
    n_promos = max(1, int(round(4 * n_d / 365)))
    for i in np.flatnonzero(~slow):
        for start in rng.integers(0, max(1, n_d - 7), size=n_promos):
            promo[i, start : start + 7] = rng.uniform(1.5, 2.5)
    shape = np.clip(trend, 0.05, None) * yearly * weekly * promo  # (items, days)
    demand = np.zeros((n_s, n_i, n_d), dtype=np.int64)
    for s in range(n_s):
        mu = base[:, None] * store_size[s] * shape
        fast = rng.negative_binomial(5, 5 / (5 + mu))
        occurs = rng.random((n_i, n_d)) < (1 - np.exp(-mu))
        lumpy = occurs * (1 + rng.poisson(np.broadcast_to(lump[:, None], (n_i, n_d))))
        demand[s] = np.where(slow[:, None], lumpy, fast) * carried[s][:, None]
    return demand, carried


def _lanes(cfg: DemoConfig, rng: np.random.Generator, direct_skus: list[str]) -> pd.DataFrame:
    rows = [("SUP-01", "PLT-01", "*", 14, 0.5, 0.25)]
    for d in range(cfg.dcs):
        rows.append(("PLT-01", f"DC-{d + 1:02d}", "*", int(rng.integers(2, 6)), 0.3, 0.2))
    for s in range(cfg.stores):
        rows.append(
            (f"DC-{s % cfg.dcs + 1:02d}", f"ST-{s + 1:03d}", "*", int(rng.integers(1, 4)), 0.2, 0.3)
        )
    for sku in direct_skus:
        rows.append(("SUP-01", "DC-01", sku, 21, 0.8, 0.3))
    frame = pd.DataFrame(
        rows,
        columns=[
            "source_location_id",
            "destination_location_id",
            "sku",
            "transit_days",
            "transfer_cost",
            "cv",
        ],
    )
    frame["cv"] = frame["cv"] * rng.uniform(0.5, 1.5, len(frame))
    return frame


def _lead_times(rng: np.random.Generator, mean_days: float, cv: float, n: int) -> np.ndarray:
    """Realised lead times in whole days (>= 1): gamma around the lane's nominal transit."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    shape = 1.0 / max(cv, 1e-3) ** 2
    return np.maximum(1, np.round(rng.gamma(shape, mean_days / shape, n))).astype(np.int64)


def _periodic_orders(
    flow: np.ndarray, period: int, offset: int, lot: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Order days and quantities (items, n_orders) covering ``flow`` (items, days) per period."""
    n_days = flow.shape[1]
    days = np.arange(offset % period + period, n_days, period)
    cum = np.concatenate(
        [np.zeros((flow.shape[0], 1), dtype=flow.dtype), np.cumsum(flow, axis=1)], axis=1
    )
    qty = cum[:, days] - cum[:, days - period]
    qty = np.ceil(qty / lot[:, None]) * lot[:, None]
    return days, qty.astype(np.int64)


def generate(cfg: DemoConfig) -> dict[str, pd.DataFrame]:
    """All extract rows for the whole history, each with an ``_txn_day`` index (0 = first day)."""
    rng = np.random.default_rng(cfg.seed)
    dates = pd.date_range(end=pd.Timestamp(cfg.end_date), periods=cfg.history_days, freq="D")
    locations = _locations(cfg)
    items = _items(cfg, rng)
    skus = items["sku"].to_numpy()
    lot = items["lot_size"].to_numpy()
    n_direct = int(round(cfg.direct_import_share * cfg.items))
    direct = np.zeros(cfg.items, dtype=bool)
    direct[rng.choice(cfg.items, n_direct, replace=False)] = True
    lanes = _lanes(cfg, rng, list(skus[direct]))
    demand, carried = _daily_demand(cfg, rng, dates)
    store_ids = [f"ST-{s + 1:03d}" for s in range(cfg.stores)]
    dc_ids = [f"DC-{d + 1:02d}" for d in range(cfg.dcs)]
    lane_cv = {(r.source_location_id, r.destination_location_id): r.cv for r in lanes.itertuples()}
    lane_days = {
        (r.source_location_id, r.destination_location_id): r.transit_days
        for r in lanes.itertuples()
    }

    # --- sales orders, returns, cancellations ------------------------------------------------
    s_idx, i_idx, d_idx = np.nonzero(demand)
    qty = demand[s_idx, i_idx, d_idx]
    order = np.lexsort((i_idx, s_idx, d_idx))
    s_idx, i_idx, d_idx, qty = s_idx[order], i_idx[order], d_idx[order], qty[order]
    order_key = d_idx * cfg.stores + s_idx
    first = np.r_[True, order_key[1:] != order_key[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(order_key)), 0))
    line_no = np.arange(len(order_key)) - group_start + 1
    day_str = dates.strftime("%Y%m%d").to_numpy()
    order_ids = np.char.add(
        np.char.add("SO-", np.array(store_ids)[s_idx].astype(str)),
        np.char.add("-", day_str[d_idx].astype(str)),
    )
    last_days = d_idx >= cfg.history_days - 2
    sales = pd.DataFrame(
        {
            "order_id": order_ids,
            "line_number": line_no,
            "_txn_day": d_idx,
            "location_id": np.array(store_ids)[s_idx],
            "sku": skus[i_idx],
            "quantity": qty.astype(float),
            "order_type": "SALE",
            "status": np.where(last_days, "OPEN", "SHIPPED"),
        }
    )
    n_cancel = int(0.02 * len(sales))
    cancel = sales.sample(n=n_cancel, random_state=cfg.seed).copy()
    cancel["line_number"] = cancel["line_number"] + 1000
    cancel["status"] = "CANCELLED"
    n_return = int(0.01 * len(sales))
    returns = (
        sales[sales["_txn_day"] < cfg.history_days - 30]
        .sample(n=n_return, random_state=cfg.seed + 1)
        .copy()
    )
    returns["_txn_day"] = returns["_txn_day"] + rng.integers(1, 28, len(returns))
    returns["order_id"] = "RT-" + returns["order_id"].str.slice(3)
    returns["line_number"] = returns["line_number"] + 2000
    returns["quantity"] = -np.maximum(
        1, np.floor(returns["quantity"] * rng.uniform(0.2, 1.0, len(returns)))
    )
    returns["order_type"] = "RETURN"
    returns["status"] = "SHIPPED"
    sales_orders = pd.concat([sales, cancel, returns], ignore_index=True)

    customer_shipments = sales[sales["status"] == "SHIPPED"]
    shipments = [
        pd.DataFrame(
            {
                "shipment_id": "SH-C-"
                + pd.Series(np.arange(len(customer_shipments))).astype(str).str.zfill(8).to_numpy(),
                "_txn_day": customer_shipments["_txn_day"].to_numpy(),
                "from_location_id": customer_shipments["location_id"].to_numpy(),
                "to_location_id": "CUSTOMER",
                "sku": customer_shipments["sku"].to_numpy(),
                "quantity": customer_shipments["quantity"].to_numpy(),
                "shipment_type": "CUSTOMER",
            }
        )
    ]
    receipts: list[pd.DataFrame] = []
    purchase_orders: list[pd.DataFrame] = []
    in_transit_rows: list[pd.DataFrame] = []

    def transfer(
        source: str, destination: str, flow: np.ndarray, offset: int, item_mask: np.ndarray
    ) -> np.ndarray:
        """Weekly transfers covering ``flow``; returns the shipped quantity per (item, day)."""
        days, qty_w = _periodic_orders(flow, 7, offset, lot)
        qty_w = qty_w * item_mask[:, None]
        it, wk = np.nonzero(qty_w)
        ship_day = days[wk]
        lt = _lead_times(
            rng, lane_days[(source, destination)], lane_cv[(source, destination)], len(it)
        )
        arrive = ship_day + lt
        prefix = f"SH-T-{source}-{destination}-"
        ids = prefix + pd.Series(np.arange(len(it))).astype(str).str.zfill(7).to_numpy()
        shipments.append(
            pd.DataFrame(
                {
                    "shipment_id": ids,
                    "_txn_day": ship_day,
                    "from_location_id": source,
                    "to_location_id": destination,
                    "sku": skus[it],
                    "quantity": qty_w[it, wk].astype(float),
                    "shipment_type": "TRANSFER",
                }
            )
        )
        arrived = arrive < cfg.history_days
        receipts.append(
            pd.DataFrame(
                {
                    "receipt_id": "RC-" + ids[arrived],
                    "_txn_day": arrive[arrived],
                    "location_id": destination,
                    "sku": skus[it[arrived]],
                    "quantity": qty_w[it[arrived], wk[arrived]].astype(float),
                    "receipt_type": "TRANSFER",
                    "reference_id": ids[arrived],
                }
            )
        )
        in_transit_rows.append(
            pd.DataFrame(
                {
                    "location_id": destination,
                    "item": it,
                    "ship_day": ship_day,
                    "arrive_day": arrive,
                    "qty": qty_w[it, wk],
                }
            )
        )
        shipped = np.zeros_like(flow)
        np.add.at(shipped, (it, ship_day), qty_w[it, wk])
        return shipped

    dc_outflow = {dc: np.zeros((cfg.items, cfg.history_days), dtype=np.int64) for dc in dc_ids}
    all_items = np.ones(cfg.items, dtype=bool)
    for s, store in enumerate(store_ids):
        dc = dc_ids[s % cfg.dcs]
        dc_outflow[dc] += transfer(dc, store, demand[s], offset=s, item_mask=all_items)
    plant_outflow = np.zeros((cfg.items, cfg.history_days), dtype=np.int64)
    for d, dc in enumerate(dc_ids):
        mask = ~direct if dc == "DC-01" else all_items
        plant_outflow += transfer("PLT-01", dc, dc_outflow[dc], offset=d + 2, item_mask=mask)

    def purchase(destination: str, flow: np.ndarray, item_mask: np.ndarray, period: int) -> None:
        days, qty_p = _periodic_orders(flow, period, 0, lot)
        qty_p = qty_p * item_mask[:, None]
        it, wk = np.nonzero(qty_p)
        order_day = days[wk]
        nominal = lane_days[("SUP-01", destination)]
        lt = _lead_times(rng, nominal, lane_cv[("SUP-01", destination)], len(it))
        arrive = order_day + lt
        ids = (
            f"PO-{destination}-" + pd.Series(np.arange(len(it))).astype(str).str.zfill(7).to_numpy()
        )
        arrived = arrive < cfg.history_days
        purchase_orders.append(
            pd.DataFrame(
                {
                    "po_id": ids,
                    "_txn_day": order_day,
                    "supplier_id": "SUP-01",
                    "location_id": destination,
                    "sku": skus[it],
                    "quantity": qty_p[it, wk].astype(float),
                    "promised_date": [
                        (dates[0] + pd.Timedelta(days=int(x))).strftime("%Y-%m-%d")
                        for x in order_day + nominal
                    ],
                    "status": np.where(arrived, "RECEIVED", "OPEN"),
                }
            )
        )
        receipts.append(
            pd.DataFrame(
                {
                    "receipt_id": "RC-" + ids[arrived],
                    "_txn_day": arrive[arrived],
                    "location_id": destination,
                    "sku": skus[it[arrived]],
                    "quantity": qty_p[it[arrived], wk[arrived]].astype(float),
                    "receipt_type": "PO",
                    "reference_id": ids[arrived],
                }
            )
        )

    purchase("PLT-01", plant_outflow, ~direct, period=14)
    if direct.any():  # direct imports: the supplier ships straight to the first DC
        purchase("DC-01", dc_outflow["DC-01"], direct, period=14)

    on_hand = _on_hand_snapshots(
        cfg, rng, demand, carried, direct, skus, store_ids, dc_ids, pd.concat(in_transit_rows)
    )
    return {
        "items": items,
        "locations": locations,
        "lanes": lanes.drop(columns="cv"),
        "sales_orders": sales_orders,
        "shipments": pd.concat(shipments, ignore_index=True),
        "receipts": pd.concat(receipts, ignore_index=True),
        "purchase_orders": pd.concat(purchase_orders, ignore_index=True),
        "on_hand": on_hand,
    }


def _on_hand_snapshots(
    cfg, rng, demand, carried, direct, skus, store_ids, dc_ids, in_transit
) -> pd.DataFrame:
    """End-of-day stock per location x item for each landing day."""
    mean_store = demand.mean(axis=2)  # (stores, items)
    nodes = {store: (mean_store[s], carried[s]) for s, store in enumerate(store_ids)}
    for d, dc in enumerate(dc_ids):
        members = [s for s in range(cfg.stores) if s % cfg.dcs == d]
        nodes[dc] = (mean_store[members].sum(axis=0), carried[members].any(axis=0))
    nodes["PLT-01"] = (mean_store.sum(axis=0) * ~direct, carried.any(axis=0) & ~direct)
    frames = []
    for k in range(cfg.drop_days):
        day = cfg.history_days - cfg.drop_days + k
        moving = in_transit[(in_transit["ship_day"] <= day) & (in_transit["arrive_day"] > day)]
        transit = moving.groupby(["location_id", "item"])["qty"].sum()
        for location, (mean, mask) in nodes.items():
            items_here = np.flatnonzero(mask)
            cover = rng.uniform(2, 25, len(items_here))
            on_hand = rng.poisson(mean[items_here] * cover)
            allocated = np.minimum(on_hand, rng.poisson(mean[items_here] * 0.3))
            tr = transit.reindex(
                pd.MultiIndex.from_arrays([[location] * len(items_here), items_here]), fill_value=0
            )
            frames.append(
                pd.DataFrame(
                    {
                        "_txn_day": day,
                        "location_id": location,
                        "sku": skus[items_here],
                        "on_hand": on_hand.astype(float),
                        "allocated": allocated.astype(float),
                        "in_transit": tr.to_numpy().astype(float),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


DATE_COLUMN = {
    "sales_orders": "order_date",
    "shipments": "ship_date",
    "receipts": "receipt_date",
    "purchase_orders": "order_date",
    "on_hand": "snapshot_date",
}
ID_COLUMNS = ("sku", "location_id", "from_location_id")


def _mess(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Stray whitespace / lower case in ids and timestamps in a few date strings."""
    frame = frame.copy()
    for column in ID_COLUMNS:
        if column in frame:
            pick = rng.random(len(frame)) < 0.01
            frame.loc[pick, column] = "  " + frame.loc[pick, column].str.lower() + " "
    return frame


CHUNK_ITEMS = 250  # larger assortments are generated in chunks of this many items
_ID_COLUMNS = ("order_id", "shipment_id", "receipt_id", "reference_id", "po_id")


def write_landing(landing: Path, cfg: DemoConfig = DemoConfig()) -> list[dt.date]:
    """Write ``cfg.drop_days`` landing folders under ``landing``; returns their dates.

    More than CHUNK_ITEMS items are generated chunk by chunk (each its own seed, SKUs and
    document ids prefixed with the chunk number, lanes for all items from the first chunk), so
    memory stays that of one chunk whatever the assortment."""
    if cfg.items <= CHUNK_ITEMS:
        return _write_landing(Path(landing), cfg)
    landing = Path(landing)
    chunks = -(-cfg.items // CHUNK_ITEMS)
    for c in range(chunks):
        items = min(CHUNK_ITEMS, cfg.items - c * CHUNK_ITEMS)
        scratch = landing / f"_chunk_{c}"
        shutil.rmtree(scratch, ignore_errors=True)
        days = _write_landing(scratch, replace(cfg, items=items, seed=cfg.seed + 1000 * c))
        for day in days:
            folder = landing / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            for path in sorted((scratch / day.isoformat()).glob("*.csv")):
                frame = pd.read_csv(path, dtype=str, keep_default_na=False)
                if path.stem == "locations" and c > 0:
                    continue  # the same locations in every chunk
                if path.stem == "lanes" and c > 0:
                    frame = frame[frame["sku"] != "*"]  # general lanes: the first chunk's
                if "sku" in frame:
                    frame["sku"] = _chunk_prefixed(frame["sku"], c, after="[sS][kK][uU]-")
                for column in _ID_COLUMNS:
                    if column in frame:
                        frame[column] = _chunk_prefixed(frame[column], c)
                target = folder / path.name
                frame.to_csv(target, mode="a" if c else "w", header=not c, index=False)
        shutil.rmtree(scratch)
    return days


def _chunk_prefixed(values: pd.Series, chunk: int, after: str = "") -> pd.Series:
    """Insert the chunk number into ids (after leading blanks, and after ``after`` if given),
    keeping the stray case and whitespace of the original values; '*' stays."""
    pattern = rf"^(\s*{after})" if after else r"^(\s*)"
    return values.where(
        values == "*", values.str.replace(pattern, rf"\g<1>{chunk:02d}", regex=True)
    )


def _write_landing(landing: Path, cfg: DemoConfig) -> list[dt.date]:
    tables = generate(cfg)
    rng = np.random.default_rng(cfg.seed + 100)
    first_drop = cfg.history_days - cfg.drop_days
    dates = pd.date_range(end=pd.Timestamp(cfg.end_date), periods=cfg.history_days, freq="D")
    drop_dates = [dates[first_drop + k].date() for k in range(cfg.drop_days)]
    for name, frame in tables.items():
        if "_txn_day" in frame:
            txn = frame["_txn_day"].to_numpy()
            late = (rng.random(len(frame)) < 0.03) * rng.integers(1, 3, len(frame))
            extract_day = np.clip(
                np.maximum(txn, first_drop) + late * (txn >= first_drop),
                first_drop,
                cfg.history_days - 1,
            )
            if name == "on_hand":
                extract_day = txn
            date_str = (
                dates[np.minimum(txn, cfg.history_days - 1)]
                .strftime("%Y-%m-%d")
                .to_numpy()
                .astype(object)
            )
            stamp = rng.random(len(frame)) < 0.02
            date_str[stamp] = date_str[stamp] + " 00:00:00"
            frame = frame.drop(columns="_txn_day").assign(
                **{DATE_COLUMN[name]: date_str}, _extract_day=extract_day
            )
            frame = _mess(frame, rng) if name != "on_hand" else frame
        for k, day in enumerate(drop_dates):
            folder = landing / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            if "_extract_day" not in frame:
                out = frame  # masters: full snapshot every day
            else:
                today = frame[frame["_extract_day"] == first_drop + k]
                if k > 0 and name not in ("on_hand",):
                    yesterday = frame[frame["_extract_day"] == first_drop + k - 1]
                    resent = yesterday.sample(frac=0.01, random_state=cfg.seed + k)
                    today = pd.concat([today, resent])
                    if name == "sales_orders":
                        corrected = yesterday[yesterday["order_type"] == "SALE"].sample(
                            frac=0.005, random_state=cfg.seed + 50 + k
                        )
                        corrected = corrected.assign(quantity=corrected["quantity"] + 1)
                        today = pd.concat([today, corrected])
                    key = {
                        "sales_orders": ["order_id", "line_number"],
                        "shipments": ["shipment_id"],
                        "receipts": ["receipt_id"],
                        "purchase_orders": ["po_id"],
                    }[name]
                    normal = today[key].astype(str).apply(lambda c: c.str.strip().str.upper())
                    today = today[~normal.duplicated(keep="last").to_numpy()]
                out = today.drop(columns="_extract_day")
            columns = [c for c in _COLUMN_ORDER[name]]
            out[columns].to_csv(folder / f"{name}.csv", index=False, float_format="%.10g")
    return drop_dates


_COLUMN_ORDER = {
    "items": ["sku", "description", "unit_cost", "unit_of_measure", "lot_size", "moq"],
    "locations": ["location_id", "location_type", "region", "description"],
    "lanes": [
        "source_location_id",
        "destination_location_id",
        "sku",
        "transit_days",
        "transfer_cost",
    ],
    "sales_orders": [
        "order_id",
        "line_number",
        "order_date",
        "location_id",
        "sku",
        "quantity",
        "order_type",
        "status",
    ],
    "shipments": [
        "shipment_id",
        "ship_date",
        "from_location_id",
        "to_location_id",
        "sku",
        "quantity",
        "shipment_type",
    ],
    "receipts": [
        "receipt_id",
        "receipt_date",
        "location_id",
        "sku",
        "quantity",
        "receipt_type",
        "reference_id",
    ],
    "purchase_orders": [
        "po_id",
        "order_date",
        "supplier_id",
        "location_id",
        "sku",
        "quantity",
        "promised_date",
        "status",
    ],
    "on_hand": ["snapshot_date", "location_id", "sku", "on_hand", "allocated", "in_transit"],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write seeded demo ERP/WMS extracts to a landing folder."
    )
    parser.add_argument("--landing", type=Path, default=Path("data/landing"))
    parser.add_argument("--stores", type=int, default=DemoConfig.stores)
    parser.add_argument("--dcs", type=int, default=DemoConfig.dcs)
    parser.add_argument("--items", type=int, default=DemoConfig.items)
    parser.add_argument("--history-days", type=int, default=DemoConfig.history_days)
    parser.add_argument("--drop-days", type=int, default=DemoConfig.drop_days)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=DEFAULT_END_DATE)
    parser.add_argument("--seed", type=int, default=DemoConfig.seed)
    args = parser.parse_args(argv)
    cfg = DemoConfig(
        stores=args.stores,
        dcs=args.dcs,
        items=args.items,
        history_days=args.history_days,
        drop_days=args.drop_days,
        end_date=args.end_date,
        seed=args.seed,
    )
    days = write_landing(args.landing, cfg)
    print(f"wrote {len(days)} landing days {days[0]} .. {days[-1]} under {args.landing}")


if __name__ == "__main__":
    main()
