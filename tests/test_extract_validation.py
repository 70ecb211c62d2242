"""Each kind of bad extract gives an error naming file, row and field."""

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from extracts.contract import EXTRACTS
from extracts.demo import DemoConfig, write_landing
from extracts.ingest import ingest_extract, landing_days, landing_folder, remove_day
from extracts.validate import ExtractError, WarehouseWriteError

DAY = dt.date(2026, 3, 3)
CONFIG = DemoConfig(stores=3, dcs=1, items=8, history_days=60, drop_days=1, end_date=DAY, seed=3)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    landing = tmp_path_factory.mktemp("pristine")
    write_landing(landing, CONFIG)
    return landing


@pytest.fixture
def landing(pristine, tmp_path) -> Path:
    copy = tmp_path / "landing"
    shutil.copytree(pristine, copy)
    return copy


def _edit(landing: Path, name: str, edit) -> Path:
    path = landing_folder(landing, DAY) / f"{name}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame).to_csv(path, index=False)
    return path


def _reject(landing: Path, name: str) -> ExtractError:
    con = duckdb.connect()
    with pytest.raises(ExtractError) as caught:
        ingest_extract(con, landing, DAY, name)
    tables = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw'"
    ).fetchone()[0]
    assert tables == 0, "nothing may be loaded from a rejected file"
    quarantined = landing / "_quarantine" / DAY.isoformat()
    assert (quarantined / f"{name}.csv.reason.txt").read_text().strip() == str(caught.value)
    assert not (landing_folder(landing, DAY) / f"{name}.csv").exists()
    return caught.value


def test_good_day_loads_every_extract(landing):
    con = duckdb.connect()
    for name in EXTRACTS:
        assert ingest_extract(con, landing, DAY, name).rows > 0


def test_missing_column(landing):
    _edit(landing, "items", lambda f: f.drop(columns="unit_cost"))
    error = _reject(landing, "items")
    assert "file items.csv, field unit_cost: required column is missing" in str(error)


def test_wrong_type_names_row_and_field(landing):
    def edit(frame):
        frame.loc[4, "quantity"] = "twelve"
        return frame

    _edit(landing, "sales_orders", edit)
    error = _reject(landing, "sales_orders")
    assert "file sales_orders.csv, row 5 (line 6), field quantity: 'twelve' is not a number" in str(
        error
    )


def test_duplicate_key(landing):
    _edit(landing, "items", lambda f: pd.concat([f, f.iloc[[2]]], ignore_index=True))
    error = _reject(landing, "items")
    assert "row 9 (line 10), field sku: duplicate key (sku='SKU-00003')" in str(error)


def test_a_long_value_is_quoted_short_and_escaped(landing):
    """A message quotes at most a short excerpt of a value, escaped: never a whole file
    pasted into a cell, nor its line breaks."""

    def edit(frame):
        frame.loc[4, "quantity"] = "ten\n" + "x" * 100_000
        return frame

    _edit(landing, "sales_orders", edit)
    message = str(_reject(landing, "sales_orders"))
    assert "row 5 (line 6), field quantity: 'ten\\nxxxxxxxxx" in message
    assert "'... is not a number" in message
    assert len(message) < 500 and "\n" + "x" not in message


def test_unknown_item_and_location(landing):
    def edit(frame):
        frame.loc[0, "sku"] = "SKU-99999"
        frame.loc[1, "location_id"] = "ST-404"
        return frame

    _edit(landing, "sales_orders", edit)
    message = str(_reject(landing, "sales_orders"))
    assert "row 1 (line 2), field sku: 'SKU-99999' unknown item" in message
    assert "row 2 (line 3), field location_id: 'ST-404' unknown location" in message


def test_negative_on_hand(landing):
    def edit(frame):
        frame.loc[3, "on_hand"] = "-5"
        return frame

    _edit(landing, "on_hand", edit)
    assert "row 4 (line 5), field on_hand: '-5' is below the minimum 0" in str(
        _reject(landing, "on_hand")
    )


def test_cycle_in_lanes(landing):
    def edit(frame):
        back = pd.DataFrame(
            [
                {
                    "source_location_id": "DC-01",
                    "destination_location_id": "PLT-01",
                    "sku": "*",
                    "transit_days": "2",
                    "transfer_cost": "0.1",
                }
            ]
        )
        return pd.concat([frame, back], ignore_index=True)

    _edit(landing, "lanes", edit)
    message = str(_reject(landing, "lanes"))
    assert "lanes form a cycle for all items" in message
    assert "PLT-01 -> DC-01 -> PLT-01" in message or "DC-01 -> PLT-01 -> DC-01" in message


def test_empty_file(landing):
    (landing_folder(landing, DAY) / "receipts.csv").write_text("")
    assert "file receipts.csv: file is empty (no header row)" in str(_reject(landing, "receipts"))


def test_header_only_master_is_rejected_but_transactions_may_be_empty(landing):
    _edit(landing, "purchase_orders", lambda f: f.iloc[0:0])
    assert ingest_extract(duckdb.connect(), landing, DAY, "purchase_orders").rows == 0
    _edit(landing, "locations", lambda f: f.iloc[0:0])
    assert "header but no rows" in str(_reject(landing, "locations"))


def test_missing_file_points_at_quarantine(landing):
    _edit(landing, "items", lambda f: f.drop(columns="moq"))
    _reject(landing, "items")
    with pytest.raises(ExtractError, match="expected file not found.*_quarantine"):
        ingest_extract(duckdb.connect(), landing, DAY, "items")


def test_reload_replaces_the_day_and_a_day_can_be_unloaded(landing):
    con = duckdb.connect()
    first = ingest_extract(con, landing, DAY, "sales_orders").rows
    ingest_extract(con, landing, DAY, "sales_orders")
    assert con.execute("SELECT count(*) FROM raw.sales_orders").fetchone()[0] == first
    remove_day(con, "sales_orders", DAY)
    left = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_name LIKE 'sales_orders%'"
    ).fetchall()
    assert left == []  # neither the day's table nor the view


def test_demo_generator_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_landing(a, CONFIG)
    write_landing(b, CONFIG)
    for path in sorted((a / DAY.isoformat()).iterdir()):
        assert path.read_bytes() == (b / DAY.isoformat() / path.name).read_bytes(), path.name


def test_parquet_extract_loads_like_csv(landing):
    folder = landing_folder(landing, DAY)
    frame = pd.read_csv(folder / "items.csv", dtype=str, keep_default_na=False)
    frame.to_parquet(folder / "items.parquet", index=False)
    (folder / "items.csv").unlink()
    con = duckdb.connect()
    result = ingest_extract(con, landing, DAY, "items")
    assert result.source_file == "items.parquet" and result.rows == len(frame)
    assert con.execute("SELECT count(DISTINCT sku) FROM raw.items").fetchone()[0] == len(frame)


def test_wrong_delimiter_reads_as_missing_columns(landing):
    path = landing_folder(landing, DAY) / "locations.csv"
    path.write_text(path.read_text().replace(",", ";"))
    message = str(_reject(landing, "locations"))
    assert "field location_id: required column is missing" in message


def test_injection_like_id_is_data_not_sql(landing):
    con = duckdb.connect()
    ingest_extract(con, landing, DAY, "items")

    def edit(frame):
        frame.loc[2, "location_id"] = "x'); drop table raw.items; --"
        return frame

    _edit(landing, "sales_orders", edit)
    with pytest.raises(
        ExtractError, match=r"row 3 \(line 4\), field location_id: .* unknown location"
    ):
        ingest_extract(con, landing, DAY, "sales_orders")
    assert con.execute("SELECT count(*) FROM raw.items").fetchone()[0] == CONFIG.items


def test_landing_day_must_be_a_date(tmp_path):
    with pytest.raises(ValueError):
        landing_folder(tmp_path, "../etc")
    (tmp_path / "not-a-day").mkdir()
    (tmp_path / "2026-02-30").mkdir()
    (tmp_path / "2026-03-01").mkdir()
    assert landing_days(tmp_path) == [dt.date(2026, 3, 1)]


def test_failed_write_rolls_back_and_leaves_the_table():
    from extracts.ingest import frame_transaction

    con = duckdb.connect()
    con.execute("CREATE TABLE kept AS SELECT * FROM range(5)")
    with pytest.raises(RuntimeError), frame_transaction(con, "new_rows", pd.DataFrame({"x": [1]})):
        con.execute("DELETE FROM kept")
        raise RuntimeError("crash mid-write")
    assert con.execute("SELECT count(*) FROM kept").fetchone()[0] == 5


def test_rows_keep_their_place_in_the_file(landing):
    con = duckdb.connect()
    ingest_extract(con, landing, DAY, "sales_orders")
    path = landing_folder(landing, DAY) / "sales_orders.csv"
    in_file = pd.read_csv(path, dtype=str, keep_default_na=False)
    loaded = con.execute(
        "SELECT source_row, order_id, line_number FROM raw.sales_orders ORDER BY source_row"
    ).df()
    assert loaded["source_row"].tolist() == list(range(1, len(in_file) + 1))
    assert loaded["order_id"].tolist() == in_file["order_id"].tolist()
    assert loaded["line_number"].tolist() == in_file["line_number"].tolist()


def test_a_bad_value_is_named_by_its_row_in_the_file(landing):
    def edit(frame):
        frame.loc[33, "quantity"] = "lots"
        return frame

    _edit(landing, "sales_orders", edit)
    with pytest.raises(ExtractError, match=r"row 34 \(line 35\), field quantity: 'lots'"):
        ingest_extract(duckdb.connect(), landing, DAY, "sales_orders")


def test_a_repeated_key_is_a_duplicate(landing):
    def edit(frame):
        frame.loc[30] = frame.loc[0]
        return frame

    _edit(landing, "sales_orders", edit)
    con = duckdb.connect()
    with pytest.raises(
        ExtractError, match=r"row 31 \(line 32\), field order_id\+line_number: duplicate key"
    ):
        ingest_extract(con, landing, DAY, "sales_orders")
    tables = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw'"
    )
    assert tables.fetchone()[0] == 0  # rolled back: not even the table was left behind


def test_staging_parses_text_with_the_expressions_ingest_checked():
    from extracts.validate import PARSE_DATE, PARSE_NUMBER

    transforms = Path(__file__).resolve().parents[1] / "transforms"
    macros = (transforms / "macros" / "parse_text.sql").read_text()
    assert PARSE_NUMBER.format(column="{{ column }}") in macros
    assert PARSE_DATE.format(column="{{ column }}") in macros
    for model in (transforms / "models" / "staging").glob("*.sql"):
        # every number and date goes through the macros: no bare cast that ingest did not check
        assert "cast(" not in model.read_text().lower(), model.name


def test_a_directory_a_link_or_two_formats_are_refused_and_set_aside(landing, tmp_path):
    folder = landing_folder(landing, DAY)
    con = duckdb.connect()
    try:
        (folder / "receipts.csv").unlink()
        (folder / "receipts.csv").mkdir()  # a directory named like the extract
        with pytest.raises(ExtractError, match="is not a regular file"):
            ingest_extract(con, landing, DAY, "receipts")
        outside = tmp_path / "secret.csv"
        outside.write_text("sku,description\nTOP,SECRET\n")
        (folder / "shipments.csv").unlink()
        (folder / "shipments.csv").symlink_to(outside)
        with pytest.raises(ExtractError, match="is a symbolic link") as caught:
            ingest_extract(con, landing, DAY, "shipments")
        assert "SECRET" not in str(caught.value)
        assert outside.read_text() == "sku,description\nTOP,SECRET\n"  # the target untouched
        frame = pd.read_csv(folder / "on_hand.csv", dtype=str)
        frame.to_parquet(folder / "on_hand.parquet")
        with pytest.raises(ExtractError, match="both on_hand.csv and on_hand.parquet"):
            ingest_extract(con, landing, DAY, "on_hand")
        quarantined = landing / "_quarantine" / DAY.isoformat()
        for name in ("receipts.csv", "shipments.csv", "on_hand.csv", "on_hand.parquet"):
            assert (quarantined / name).is_symlink() or (quarantined / name).exists(), name
            assert not (folder / name).exists()
        # the items master is still read for the other extracts of the day
        assert ingest_extract(con, landing, DAY, "sales_orders").rows > 0
    finally:
        con.close()


def test_a_quarantine_folder_that_is_a_link_is_never_written_through(landing, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (landing / "_quarantine").symlink_to(elsewhere, target_is_directory=True)
    _edit(landing, "shipments", lambda f: f.assign(quantity="-5"))
    con = duckdb.connect()
    try:
        with pytest.raises(ExtractError, match="symbolic link: refusing to write through it"):
            ingest_extract(con, landing, DAY, "shipments")
    finally:
        con.close()
    assert list(elsewhere.iterdir()) == []


class _FullDisk:
    """A connection whose disk is full: creating a table fails as DuckDB reports it."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def execute(self, sql: str, *args):
        if sql.lstrip().upper().startswith("CREATE OR REPLACE TABLE"):
            raise duckdb.IOException(
                'IO Error: Could not write file "warehouse.duckdb.wal": No space left on device'
            )
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def test_a_full_disk_is_not_blamed_on_the_file(landing):
    con = duckdb.connect()
    with pytest.raises(WarehouseWriteError, match="No space left on device"):
        ingest_extract(_FullDisk(con), landing, DAY, "sales_orders")
    assert (landing_folder(landing, DAY) / "sales_orders.csv").exists()  # left in place
    assert not (landing / "_quarantine").exists()
    # space back: the same file loads on the re-run
    assert ingest_extract(con, landing, DAY, "sales_orders").rows > 0


def test_a_day_with_an_extract_not_loaded_is_held_until_it_is(landing):
    from extracts.ingest import held_days

    con = duckdb.connect()
    assert held_days(con, landing).empty  # nothing loaded yet
    days = landing_days(landing)
    good = landing_folder(landing, days[0]) / "sales_orders.csv"
    kept = good.read_bytes()
    good.write_text(good.read_text().replace("\n", "\nnot,a,valid,row\n", 1))
    for day in days:
        for name in EXTRACTS:
            try:
                ingest_extract(con, landing, day, name)
            except ExtractError:
                assert (day, name) == (days[0], "sales_orders")
    held = held_days(con, landing)
    assert held[["extract_date", "extract"]].values.tolist() == [[days[0], "sales_orders"]]
    assert held["reason"].iloc[0].startswith("quarantined: file sales_orders.csv")
    good.write_bytes(kept)  # the fixed file delivered again and loaded: nothing is held
    ingest_extract(con, landing, days[0], "sales_orders")
    assert held_days(con, landing).empty


def test_lane_cycles_are_found_per_item_not_across_items():
    from extracts.validate import lane_cycles

    lanes = pd.DataFrame(
        [
            ("PLT", "DC1", "*"),
            ("DC1", "DC2", "A"),  # A moves DC1 -> DC2, B the other way: no item has a cycle
            ("DC2", "DC1", "B"),
            ("DC2", "ST", "C"),
            ("ST", "DC2", "C"),  # C's own loop
        ],
        columns=["source_location_id", "destination_location_id", "sku"],
    )
    assert lane_cycles(lanes.iloc[:3]) == []
    cycles = lane_cycles(lanes)
    assert [c[0] for c in cycles] == ["C"] and set(cycles[0][1:]) == {"DC2", "ST"}
