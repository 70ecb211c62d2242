"""Check one extract file against the contract, in DuckDB, before its rows are committed.

Every failure is reported as ``file, row, field: what is wrong`` so that the person who owns
the extract can fix it. Rows are counted from 1 for the first data row (file line = row + 1).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import networkx as nx
import pandas as pd

from extracts.contract import (
    ALL_ITEMS,
    DATE_WINDOW_FUTURE_DAYS,
    DATE_WINDOW_PAST_DAYS,
    EXTRACTS,
    INTEGER_RANGE,
    Extract,
)

MAX_REPORTED_FAILURES = 10
EXCERPT_CHARS = 40  # characters of a value an error message quotes


def excerpt(value: object) -> str:
    """A value as an error message quotes it: escaped (repr: no raw control characters or
    line breaks) and cut to EXCERPT_CHARS characters, so no message echoes a whole file."""
    text = str(value)
    cut = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3]
    return repr(cut) if cut == text else repr(cut) + "..."


# UTF-32 first: its little-endian mark starts with UTF-16's
BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


class ExtractError(ValueError):
    """A bad extract file. ``failures`` holds (row, field, message) tuples; row None = file-level."""

    def __init__(self, path: Path, failures: list[tuple[int | None, str | None, str]]):
        self.path = Path(path)
        self.failures = failures
        lines = []
        for row, fieldname, message in failures[:MAX_REPORTED_FAILURES]:
            where = [f"file {self.path.name}"]
            if row is not None:
                where.append(f"row {row} (line {row + 1})")
            if fieldname is not None:
                where.append(f"field {fieldname}")
            lines.append(f"{', '.join(where)}: {message}")
        more = len(failures) - MAX_REPORTED_FAILURES
        if more > 0:
            lines.append(f"... and {more} more failures in {self.path.name}")
        super().__init__("\n".join(lines))


class WarehouseWriteError(OSError):
    """The warehouse, not the extract, failed: its disk is full or another error writing it.
    The extract file is left in the landing (not quarantined): free the space and re-run."""

    @classmethod
    def loading(cls, path: Path, exc: BaseException) -> WarehouseWriteError:
        """The error for ``path`` not loaded because writing failed with ``exc``."""
        return cls(
            f"{Path(path).name} not loaded: the warehouse could not be written "
            f"({str(exc).splitlines()[0]}); the file is left in the landing"
        )


# DuckDB's messages when writing its database or temporary files fails (not the file read)
STORAGE_FAILURES = ("no space left", "could not write", "disk full", "could not truncate")


def storage_failure(exc: BaseException) -> bool:
    """Whether a DuckDB error is the warehouse's storage failing (disk full, write error)."""
    message = str(exc).lower()
    return isinstance(exc, duckdb.OutOfMemoryException) or (
        isinstance(exc, duckdb.IOException | OSError)
        and any(sign in message for sign in STORAGE_FAILURES)
    )


def find_extract_file(folder: Path, name: str) -> Path | None:
    """The file for extract ``name`` in a landing folder (CSV or Parquet), or None. Refused
    (ExtractError): both formats at once, a directory, a symbolic link (never followed: it
    could point outside the landing)."""
    found = [
        folder / f"{name}{suffix}"
        for suffix in (".csv", ".parquet")
        if (folder / f"{name}{suffix}").is_symlink() or (folder / f"{name}{suffix}").exists()
    ]
    if not found:
        return None
    if len(found) > 1:
        raise ExtractError(
            found[0],
            [(None, None, f"both {found[0].name} and {found[1].name} landed: which one is meant?")],
        )
    path = found[0]
    if path.is_symlink():
        raise ExtractError(path, [(None, None, "is a symbolic link: extracts must be files")])
    if not path.is_file():
        raise ExtractError(path, [(None, None, "is not a regular file (a directory?)")])
    return path


def file_scan(path: Path) -> tuple[str, list]:
    """A SQL table expression (and its parameters) reading an extract file with every value as
    text: CSV is comma-separated, UTF-8, with a header row; Parquet columns are cast to text.
    The path is a parameter, never pasted into the SQL."""
    path = Path(path)
    if path.suffix == ".parquet":
        return "(SELECT COLUMNS(*)::VARCHAR FROM read_parquet(?))", [str(path)]
    return (
        "(SELECT * FROM read_csv(?, header = true, sep = ',', quote = '\"', all_varchar = true, "
        "encoding = 'utf-8', strict_mode = true, null_padding = false))",
        [str(path)],
    )


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> str:
    """Read the file into the table ``table`` (a quoted SQL name) and return a SQL table
    expression of its rows with ``source_row``, the row's place in the file counted from 1.

    DuckDB reads the file on every core and keeps insertion (file) order, so a table created
    outside any transaction numbers its rows in file order from 0 (``rowid``): the numbering
    costs nothing, where ``row_number() OVER ()`` over the read made it single-threaded.
    Must run in autocommit (rows created inside a transaction carry offset rowids)."""
    scan, params = file_scan(path)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {scan}", params)
    except duckdb.Error as exc:
        if storage_failure(exc):  # the warehouse could not take it: not the file's fault
            raise WarehouseWriteError.loading(path, exc) from exc
        raise read_error(path, exc) from exc
    return f"(SELECT rowid + 1 AS source_row, * FROM {table})"


def check_header(con: duckdb.DuckDBPyConnection, path: Path, extract: Extract) -> None:
    """The file can be opened and has exactly the contract's columns (ExtractError if not)."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise ExtractError(path, [(None, None, "file is empty (no header row)")])
    scan, params = file_scan(path)
    try:
        header = [
            row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}", params).fetchall()
        ]
    except duckdb.Error as exc:
        raise read_error(path, exc) from exc
    if path.suffix != ".parquet":
        first = _first_line_fields(path)
        if [f.strip() for f in first] != [h.strip() for h in header]:
            # DuckDB's reader skips lines above what it takes for the header: every row
            # number it reported would then be off
            raise ExtractError(
                path,
                [
                    (
                        None,
                        None,
                        f"line 1 is not the header row (it reads {excerpt(','.join(first))}): the "
                        "header must "
                        "be the first line, with no title or blank line above it",
                    )
                ],
            )
    missing = [c for c in extract.column_names if c not in header]
    extra = [c for c in header if c not in extract.column_names]
    failures: list[tuple[int | None, str | None, str]] = []
    failures += [(None, c, "required column is missing") for c in missing]
    failures += [(None, c, "column is not in the extract contract") for c in extra]
    if failures:
        raise ExtractError(path, failures)


def _first_line_fields(path: Path) -> list[str]:
    """The CSV fields of a file's first line (a UTF-8 byte order mark dropped)."""
    with open(path, "rb") as handle:
        line = handle.readline(1 << 16)
    text = line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    return next(csv.reader([text]), [])


def read_error(path: Path, exc: duckdb.Error) -> ExtractError:
    """The reader's failure as an ExtractError naming the row and field where it can."""
    found = _diagnose_csv(path) if Path(path).suffix != ".parquet" else []
    message = str(exc).splitlines()[0]
    return ExtractError(
        path, found or [(None, None, f"cannot be read as {Path(path).suffix[1:]}: {message}")]
    )


def _diagnose_csv(path: Path) -> list[tuple[int | None, str | None, str]]:
    """The first line DuckDB's reader would choke on, named by row and field: bytes that are
    not UTF-8, or a row with more or fewer fields than the header (e.g. a truncated file)."""
    failures: list[tuple[int | None, str | None, str]] = []
    with open(path, "rb") as handle:
        content = handle.read()
    for bom, encoding in BYTE_ORDER_MARKS:
        if content.startswith(bom):
            return [(None, None, f"is {encoding} encoded (byte order mark); save it as UTF-8")]
    raw_lines = content.splitlines()
    lines = []
    header_fields: list[str] = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as bad:
            before = raw[: bad.start].decode("utf-8", errors="replace")
            column = next(csv.reader([before]), []) or [""]
            field = header_fields[len(column) - 1] if len(column) <= len(header_fields) else None
            failures.append(
                (
                    number - 1 if number > 1 else None,
                    field,
                    f"byte 0x{raw[bad.start]:02x} is not UTF-8 (save the file as UTF-8)",
                )
            )
            return failures
        if number == 1:
            header_fields = next(csv.reader([lines[0]]), [])
    rows = list(csv.reader(lines))
    if not rows:
        return failures
    header = rows[0]
    for number, row in enumerate(rows[1:], start=1):
        if len(row) < len(header):
            failures.append(
                (
                    number,
                    header[len(row)],
                    f"row has {len(row)} of the header's {len(header)} fields (truncated row or "
                    "wrong delimiter)",
                )
            )
        elif len(row) > len(header):
            failures.append((number, None, f"row has {len(row)} fields, the header {len(header)}"))
        if len(failures) >= MAX_REPORTED_FAILURES:
            break
    return failures


def normalise_id(values: pd.Series) -> pd.Series:
    """Ids as the warehouse keys them: trimmed and upper-case."""
    return values.str.strip().str.upper()


@dataclass(frozen=True)
class Rule:
    """One row rule on one column: ``failing`` is a SQL condition true on a bad row (the column
    and the masters' tables are named by the code, never by the data)."""

    field: str
    failing: str
    message: str  # after the value's repr


def _sql_id(column: str) -> str:
    return f'upper(trim("{column}"))'


# How a text value is parsed, here and in staging (transforms/macros/parse_text.sql writes the
# same expressions; tests/test_extract_validation.py compares them): what passes ingest parses
# in dbt, and nothing that fails here is cast there.
PARSE_NUMBER = "TRY_CAST(trim({column}) AS DOUBLE)"
PARSE_DATE = "TRY_STRPTIME(left(trim({column}), 10), '%Y-%m-%d')::DATE"


def _parsed(column: str, kind: str) -> str:
    """Name of a column's parsed value in ``parsed_rows`` (kind: id, number or date)."""
    return f'"{column}:{kind}"'


def parsed_rows(rows: str, extract: Extract) -> str:
    """``rows`` with each column parsed once beside its text: ids trimmed and upper-cased,
    numbers as DOUBLE, dates as DATE (NULL where the text is not one); the rules read these,
    so each string is worked on once per scan."""
    parsed = []
    for column in extract.columns:
        name = column.name
        if column.kind == "id" or column.allowed is not None or name in extract.key:
            parsed.append(f"{_sql_id(name)} AS {_parsed(name, 'id')}")
        if column.kind in ("number", "integer") or {column.min_value, column.max_value} != {None}:
            parsed.append(
                PARSE_NUMBER.format(column=f'"{name}"') + f" AS {_parsed(name, 'number')}"
            )
        if column.kind == "date":
            parsed.append(PARSE_DATE.format(column=f'"{name}"') + f" AS {_parsed(name, 'date')}")
    return f"(SELECT *, {', '.join(parsed)} FROM {rows})" if parsed else rows


def sql_text(value: str) -> str:
    """A SQL string literal of ``value`` (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def row_rules(
    extract: Extract, masters: Mapping[str, set[str]], extract_date: dt.date | None = None
) -> list[Rule]:
    """The contract's row rules as SQL on ``parsed_rows``: missing values, blank ids, numbers,
    whole numbers, bounds, dates, allowed values, ids known to the masters (``known_<master>``
    tables) and, with ``extract_date``, no transaction dated after the extract day."""
    rules = []
    for column in extract.columns:
        name = column.name
        present = f'"{name}" IS NOT NULL AND '
        ident, number, date = (_parsed(name, k) for k in ("id", "number", "date"))
        if not column.nullable:
            rules.append(Rule(name, f'"{name}" IS NULL', "value is missing"))
        if column.kind == "id":
            rules.append(Rule(name, present + f"{ident} = ''", "id is blank"))
        if column.kind in ("number", "integer"):
            rules.append(
                Rule(name, present + f"NOT coalesce(isfinite({number}), false)", "is not a number")
            )
        if column.kind == "integer":
            rules.append(Rule(name, f"{number} % 1 <> 0", "is not a whole number"))
            low, high = INTEGER_RANGE
            rules.append(
                Rule(
                    name,
                    f"{number} NOT BETWEEN {low} AND {high}",
                    f"is outside the whole-number range [{low}, {high}]",
                )
            )
        if column.min_value is not None:
            low = column.min_value
            rules.append(Rule(name, f"{number} < {low!r}", f"is below the minimum {low:g}"))
        if column.max_value is not None:
            high = column.max_value
            rules.append(Rule(name, f"{number} > {high!r}", f"is above the maximum {high:g}"))
        if column.kind == "date":
            rules.append(Rule(name, present + f"{date} IS NULL", "is not a date (YYYY-MM-DD)"))
            if extract_date is not None:
                earliest = extract_date - dt.timedelta(days=DATE_WINDOW_PAST_DAYS)
                latest = extract_date + dt.timedelta(days=DATE_WINDOW_FUTURE_DAYS)
                rules.append(
                    Rule(
                        name,
                        f"{date} NOT BETWEEN DATE '{earliest.isoformat()}' "
                        f"AND DATE '{latest.isoformat()}'",
                        f"is outside the plausible window {earliest} .. {latest} "
                        f"({DATE_WINDOW_PAST_DAYS} days before, {DATE_WINDOW_FUTURE_DAYS} after "
                        "the extract day)",
                    )
                )
            if name == extract.date_column and extract_date is not None:
                rules.append(
                    Rule(
                        name,
                        f"{date} > DATE '{extract_date.isoformat()}'",
                        f"is after the extract day {extract_date}",
                    )
                )
        if column.allowed is not None:
            allowed = ", ".join(sql_text(v) for v in column.allowed)
            rules.append(
                Rule(
                    name,
                    present + f"{ident} NOT IN ({allowed})",
                    f"is not one of {sorted(column.allowed)}",
                )
            )
        if column.references is not None and column.references in masters:
            what = "item" if column.references == "items" else "location"
            extras = "".join(f" AND {ident} <> {sql_text(v)}" for v in column.reference_extras)
            rules.append(
                Rule(
                    name,
                    present + f"{ident} NOT IN (SELECT id FROM known_{column.references})" + extras,
                    f"unknown {what} (not in the {column.references} master)",
                )
            )
    return rules


def check_rows(
    con: duckdb.DuckDBPyConnection,
    rows: str,
    extract: Extract,
    masters: Mapping[str, set[str]] | None = None,
    extract_date: dt.date | None = None,
) -> list[tuple[int | None, str | None, str]]:
    """Row rules (``row_rules``) and repeated keys on the table expression ``rows`` (the
    file's columns and ``source_row``), evaluated in DuckDB: one counting scan, then the first
    failing rows of each broken rule. Failures come sorted by row and field, rows numbered
    from 1."""
    masters = masters or {}
    rules = row_rules(extract, masters, extract_date)
    checked = parsed_rows(rows, extract)
    # no key hash repeats: no key repeats (hashing is 2-3x cheaper than grouping the text)
    keys = ", ".join(_parsed(k, "id") for k in extract.key)
    for master, ids in masters.items():
        con.register(f"known_{master}", pd.DataFrame({"id": sorted(ids)}, dtype=object))
    try:
        *counts, repeated_hashes = con.execute(
            "SELECT "
            + "".join(f"count_if({r.failing}), " for r in rules)
            + f"count(*) - count(DISTINCT hash({keys})) FROM {checked}"
        ).fetchall()[0]
        failures: list[tuple[int | None, str | None, str]] = []
        for rule, count in zip(rules, counts, strict=True):
            if not count:
                continue
            found = con.execute(
                f'SELECT source_row, "{rule.field}" FROM {checked} WHERE {rule.failing} '
                f"ORDER BY source_row LIMIT {MAX_REPORTED_FAILURES}"
            ).fetchall()
            for source_row, value in found:
                message = rule.message if value is None else f"{excerpt(value)} {rule.message}"
                failures.append((int(source_row), rule.field, message))
            if count > len(found):
                failures.append(
                    (
                        None,
                        rule.field,
                        f"{count - len(found)} more rows where the value {rule.message}",
                    )
                )
    finally:
        for master in masters:
            con.unregister(f"known_{master}")
    if repeated_hashes:
        failures += _duplicate_keys(con, checked, extract)
    described = sorted((f for f in failures if f[0] is not None), key=lambda f: (f[0], f[1] or ""))
    return described + [f for f in failures if f[0] is None]


def _duplicate_keys(
    con: duckdb.DuckDBPyConnection, checked: str, extract: Extract
) -> list[tuple[int | None, str | None, str]]:
    """Rows of ``parsed_rows`` whose key (trimmed, upper-cased) repeats an earlier row."""
    key = extract.key
    parsed = ", ".join(_parsed(k, "id") for k in key)
    found = con.execute(
        f"SELECT source_row, {parsed} FROM (SELECT source_row, {parsed}, row_number() "
        f"OVER (PARTITION BY {parsed} ORDER BY source_row) AS occurrence FROM {checked}) "
        f"WHERE occurrence > 1 ORDER BY source_row LIMIT {MAX_REPORTED_FAILURES + 1}",
    ).fetchall()
    return [
        (
            row[0],
            "+".join(key),
            "duplicate key ("
            + ", ".join(f"{k}={excerpt(v)}" for k, v in zip(key, row[1:], strict=True))
            + ")",
        )
        for row in found
    ]


def lane_cycles(lanes: pd.DataFrame) -> list[list[str]]:
    """Cycles in the lane graph of any item (all-items lanes count for every item)."""
    frame = lanes.assign(
        source=normalise_id(lanes["source_location_id"]),
        destination=normalise_id(lanes["destination_location_id"]),
        item=normalise_id(lanes["sku"]),
    )

    def cycle_of(edges: pd.DataFrame) -> list[str] | None:
        graph = nx.DiGraph(list(zip(edges["source"], edges["destination"], strict=True)))
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return None
        return [*[edge[0] for edge in cycle], cycle[0][0]]

    # every item's graph is part of the graph of all lanes: none has a cycle if that has none
    if cycle_of(frame) is None:
        return []
    generic = frame[frame["item"] == ALL_ITEMS]
    cycles = []
    found = cycle_of(generic)
    if found:
        cycles.append([ALL_ITEMS, *found])
    for item, own in frame[frame["item"] != ALL_ITEMS].groupby("item", sort=True):
        found = cycle_of(pd.concat([generic, own]))
        if found:
            cycles.append([item, *found])
    return cycles


def check_whole_file(
    frame: pd.DataFrame, extract: Extract, masters: Mapping[str, set[str]] | None = None
) -> list[tuple[int | None, str | None, str]]:
    """Rules on the whole file at once (the lanes: every item has a lane, no cycles)."""
    failures: list[tuple[int | None, str | None, str]] = []
    if "every_item_has_a_lane" in extract.extra_rules and "items" in (masters or {}):
        skus = set(normalise_id(frame["sku"].astype("string[pyarrow]")).dropna())
        if ALL_ITEMS not in skus:
            for sku in sorted(masters["items"] - skus)[:MAX_REPORTED_FAILURES]:
                failures.append(
                    (None, "sku", f"item {sku} of the items master has no lane (add one, or '*')")
                )
    if "no_cycle" in extract.extra_rules:
        for item, *path_ids in lane_cycles(frame):
            scope = "all items" if item == ALL_ITEMS else f"item {item}"
            failures.append(
                (
                    None,
                    "source_location_id/destination_location_id",
                    f"lanes form a cycle for {scope}: {' -> '.join(path_ids)}",
                )
            )
    return failures


def master_ids(folder: Path, names: Iterable[str] = ("items", "locations")) -> dict[str, set[str]]:
    """Normalised ids of the masters in a landing folder. A master that is absent or unreadable
    is left out: its own ingest fails and blocks the day, so nothing is published unchecked."""
    id_column = {"items": "sku", "locations": "location_id"}
    found: dict[str, set[str]] = {}
    con = duckdb.connect()
    try:
        for name in names:
            try:
                path = find_extract_file(folder, name)
                if path is None:
                    continue
                check_header(con, path, EXTRACTS[name])
                scan, params = file_scan(path)
                ids = con.execute(
                    f"SELECT DISTINCT {_sql_id(id_column[name])} FROM {scan} "
                    f'WHERE "{id_column[name]}" IS NOT NULL',
                    params,
                ).fetchall()
            except (ExtractError, duckdb.Error):
                continue
            found[name] = {row[0] for row in ids}
    finally:
        con.close()
    return found
