"""The extract contract: which files an ERP/WMS drops each day and what each must hold.

A landing folder ``<landing>/<YYYY-MM-DD>/`` holds one file per extract, as ``<name>.csv``
or ``<name>.parquet``. Every value arrives as text; ids are normalised (trimmed, upper-cased)
before checks. docs/extracts.md is the human-readable version of this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["id", "text", "number", "integer", "date", "category"]

LOCATION_TYPES = ("SUPPLIER", "PLANT", "DC", "STORE")
# The plausible window of every date in an extract, in days around the extract day: older
# dates are typing errors (0001-01-01 made the demand mart span 2,025 years), later ones
# beyond what a promised date can be. Transaction dates (``Extract.date_column``) may not be
# after the extract day at all.
DATE_WINDOW_PAST_DAYS = 3_660  # ten years
DATE_WINDOW_FUTURE_DAYS = 730
# Whole-number columns become INTEGER in staging: a larger value would fail dbt's cast.
INTEGER_RANGE = (-(2**31), 2**31 - 1)
MAX_UNIT_VALUE = 1e9  # currency per unit: a cost above is a typing error (1e308 made inf)
ALL_ITEMS = "*"
CUSTOMER = "CUSTOMER"


@dataclass(frozen=True)
class Column:
    """One column of an extract. ``kind`` drives parsing; bounds are inclusive."""

    name: str
    kind: ColumnKind
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None
    references: Literal["items", "locations"] | None = None
    # values accepted besides the referenced master's ids (e.g. '*' for all items)
    reference_extras: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Extract:
    """One extract file kind: its columns, its key (unique within a file) and its rules."""

    name: str
    system: Literal["erp", "wms"]
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    allow_header_only: bool = True
    date_column: str | None = None
    extra_rules: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


EXTRACTS: dict[str, Extract] = {
    e.name: e
    for e in (
        Extract(
            name="items",
            system="erp",
            description="Item master, full snapshot every day.",
            key=("sku",),
            allow_header_only=False,
            columns=(
                Column("sku", "id", description="item id"),
                Column("description", "text", nullable=True),
                Column(
                    "unit_cost",
                    "number",
                    min_value=0,
                    max_value=MAX_UNIT_VALUE,
                    description="currency per unit",
                ),
                Column(
                    "unit_of_measure",
                    "category",
                    allowed=("EA", "CS", "KG", "L", "M"),
                    description="stocking unit",
                ),
                Column("lot_size", "integer", min_value=1, description="units per order multiple"),
                Column("moq", "integer", min_value=0, description="minimum order quantity, units"),
            ),
        ),
        Extract(
            name="locations",
            system="erp",
            description="Location master, full snapshot every day.",
            key=("location_id",),
            allow_header_only=False,
            columns=(
                Column("location_id", "id"),
                Column("location_type", "category", allowed=LOCATION_TYPES),
                Column("region", "id", nullable=True),
                Column("description", "text", nullable=True),
            ),
        ),
        Extract(
            name="lanes",
            system="erp",
            description=(
                "Transport lanes source -> destination, for one item or '*' (all items); an "
                "item-specific lane into a destination replaces the all-items lanes into it."
            ),
            key=("source_location_id", "destination_location_id", "sku"),
            allow_header_only=False,
            extra_rules=("no_cycle", "every_item_has_a_lane"),
            columns=(
                Column("source_location_id", "id", references="locations"),
                Column("destination_location_id", "id", references="locations"),
                Column("sku", "id", references="items", reference_extras=(ALL_ITEMS,)),
                Column("transit_days", "number", min_value=0, max_value=365, description="days"),
                Column(
                    "transfer_cost",
                    "number",
                    min_value=0,
                    max_value=MAX_UNIT_VALUE,
                    description="currency per unit",
                ),
            ),
        ),
        Extract(
            name="sales_orders",
            system="erp",
            description=(
                "Customer order lines at stores (independent demand). Returns come as negative "
                "quantities with order_type RETURN; cancelled lines keep status CANCELLED."
            ),
            key=("order_id", "line_number"),
            date_column="order_date",
            columns=(
                Column("order_id", "id"),
                Column("line_number", "integer", min_value=1),
                Column("order_date", "date"),
                Column("location_id", "id", references="locations"),
                Column("sku", "id", references="items"),
                Column("quantity", "number", min_value=-1e6, max_value=1e6, description="units"),
                Column("order_type", "category", allowed=("SALE", "RETURN")),
                Column("status", "category", allowed=("OPEN", "SHIPPED", "CANCELLED")),
            ),
        ),
        Extract(
            name="shipments",
            system="wms",
            description=(
                "Goods shipped: customer shipments (to_location_id = CUSTOMER) and internal "
                "transfers between locations (dependent demand)."
            ),
            key=("shipment_id",),
            date_column="ship_date",
            columns=(
                Column("shipment_id", "id"),
                Column("ship_date", "date"),
                Column("from_location_id", "id", references="locations"),
                Column(
                    "to_location_id", "id", references="locations", reference_extras=(CUSTOMER,)
                ),
                Column("sku", "id", references="items"),
                Column("quantity", "number", min_value=0, max_value=1e7, description="units"),
                Column("shipment_type", "category", allowed=("CUSTOMER", "TRANSFER")),
            ),
        ),
        Extract(
            name="receipts",
            system="wms",
            description=(
                "Goods received against a purchase order (reference_id = po_id) or a transfer "
                "(reference_id = shipment_id); with the order or ship date this measures lead times."
            ),
            key=("receipt_id",),
            date_column="receipt_date",
            columns=(
                Column("receipt_id", "id"),
                Column("receipt_date", "date"),
                Column("location_id", "id", references="locations"),
                Column("sku", "id", references="items"),
                Column("quantity", "number", min_value=0, max_value=1e7, description="units"),
                Column("receipt_type", "category", allowed=("PO", "TRANSFER")),
                Column("reference_id", "id"),
            ),
        ),
        Extract(
            name="purchase_orders",
            system="erp",
            description="Purchase order lines to suppliers, open and closed.",
            key=("po_id",),
            date_column="order_date",
            columns=(
                Column("po_id", "id"),
                Column("order_date", "date"),
                Column("supplier_id", "id", references="locations"),
                Column("location_id", "id", references="locations"),
                Column("sku", "id", references="items"),
                Column("quantity", "number", min_value=0, max_value=1e7, description="units"),
                Column("promised_date", "date"),
                Column("status", "category", allowed=("OPEN", "RECEIVED", "CANCELLED")),
            ),
        ),
        Extract(
            name="on_hand",
            system="wms",
            description="Inventory snapshot per location x item at the end of the extract day.",
            key=("location_id", "sku"),
            allow_header_only=False,
            date_column="snapshot_date",
            columns=(
                Column("snapshot_date", "date"),
                Column("location_id", "id", references="locations"),
                Column("sku", "id", references="items"),
                Column("on_hand", "number", min_value=0, max_value=1e8, description="units"),
                Column("allocated", "number", min_value=0, max_value=1e8, description="units"),
                Column("in_transit", "number", min_value=0, max_value=1e8, description="units"),
            ),
        ),
    )
}

MASTER_EXTRACTS = ("items", "locations")
