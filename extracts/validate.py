"""Validate one extract file against the contract with pandera, before anything is loaded.

Every failure is reported as ``file, row, field: what is wrong`` so that the person who owns
the extract can fix it. Rows are counted from 1 for the first data row (file line = row + 1).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import duckdb
import networkx as nx
import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.errors import SchemaErrors

from extracts.contract import ALL_ITEMS, EXTRACTS, Column, Extract

MAX_REPORTED_FAILURES = 10
_STRING_TYPES = (pyarrow.string(), pyarrow.large_string(), pyarrow.string_view())


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


def find_extract_file(folder: Path, name: str) -> Path | None:
    """The file for extract ``name`` in a landing folder (CSV or Parquet), or None."""
    for suffix in (".csv", ".parquet"):
        candidate = folder / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return None


BATCH_ROWS = 1_000_000  # rows checked and loaded at a time: memory stays that of one batch


def _text_frame(batches: list[pyarrow.RecordBatch], first_row: int) -> pd.DataFrame:
    """Record batches of text columns as one pandas frame with Arrow-backed strings (fast
    vectorised checks), indexed by the row's position in the file (0-based)."""
    frame = pyarrow.Table.from_batches(batches).to_pandas(
        types_mapper=lambda t: pd.StringDtype("pyarrow") if t in _STRING_TYPES else None
    )
    frame.index = pd.RangeIndex(first_row, first_row + len(frame))
    return frame


def read_extract_batches(
    path: Path, extract: Extract, batch_rows: int = BATCH_ROWS
) -> Iterator[pd.DataFrame]:
    """Read a CSV (comma-separated, UTF-8, header row) or Parquet file with every value as
    text, ``batch_rows`` rows at a time; the header is checked before any row is read."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise ExtractError(path, [(None, None, "file is empty (no header row)")])
    con = duckdb.connect()
    try:
        try:
            if path.suffix == ".parquet":
                relation = con.read_parquet(str(path))
                relation = relation.select(
                    ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in relation.columns)
                )
            else:
                relation = con.read_csv(
                    str(path),
                    header=True,
                    sep=",",
                    quotechar='"',
                    all_varchar=True,
                    encoding="utf-8",
                    strict_mode=True,
                    null_padding=False,
                )
            header = list(relation.columns)
            missing = [c for c in extract.column_names if c not in header]
            extra = [c for c in header if c not in extract.column_names]
            failures: list[tuple[int | None, str | None, str]] = []
            failures += [(None, c, "required column is missing") for c in missing]
            failures += [(None, c, "column is not in the extract contract") for c in extra]
            if failures:
                raise ExtractError(path, failures)
            columns = ", ".join(f'"{c}"' for c in extract.column_names)
            reader = relation.select(columns).fetch_record_batch(batch_rows)
            rows, pending, pending_rows = 0, [], 0
            for batch in reader:  # DuckDB hands out smaller chunks: gather batch_rows
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= batch_rows:
                    yield _text_frame(pending, rows)
                    rows, pending, pending_rows = rows + pending_rows, [], 0
            if pending_rows:
                yield _text_frame(pending, rows)
                rows += pending_rows
        except duckdb.Error as exc:
            found = _diagnose_csv(path) if path.suffix != ".parquet" else []
            message = str(exc).splitlines()[0]
            raise ExtractError(
                path, found or [(None, None, f"cannot be read as {path.suffix[1:]}: {message}")]
            ) from exc
    finally:
        con.close()
    if rows == 0 and not extract.allow_header_only:
        raise ExtractError(path, [(None, None, "file has a header but no rows")])


def read_extract(path: Path, extract: Extract) -> pd.DataFrame:
    """The whole file as text (for small files such as the masters)."""
    frames = list(read_extract_batches(path, extract))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="string[pyarrow]") for c in extract.column_names})
    return pd.concat(frames) if len(frames) > 1 else frames[0]


def _diagnose_csv(path: Path) -> list[tuple[int | None, str | None, str]]:
    """The first line DuckDB's reader would choke on, named by row and field: bytes that are
    not UTF-8, or a row with more or fewer fields than the header (e.g. a truncated file)."""
    failures: list[tuple[int | None, str | None, str]] = []
    with open(path, "rb") as handle:
        raw_lines = handle.read().splitlines()
    lines = []
    header_fields: list[str] = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as bad:
            before = raw[: bad.start].decode("utf-8", errors="replace")
            column = next(csv.reader([before]), [""])
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


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.str.strip(), errors="coerce")


def _dates(values: pd.Series) -> pd.Series:
    text = values.str.strip().str.slice(0, 10)
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")


class _Parsed:
    """Each column parsed once (ids normalised, numbers, dates) for all the checks on it."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._cache: dict[tuple[str, str], pd.Series] = {}

    def get(self, column: str, how: str) -> pd.Series:
        key = (column, how)
        if key not in self._cache:
            raw = self.frame[column]
            parse = {"id": normalise_id, "number": _numbers, "date": _dates}[how]
            self._cache[key] = parse(
                raw if raw.dtype == "string[pyarrow]" else raw.astype("string[pyarrow]")
            )
        return self._cache[key]


def _column_checks(
    column: Column, masters: Mapping[str, set[str]], parsed: _Parsed
) -> list[pa.Check]:
    """Vectorised checks on one column; each returns a boolean Series aligned with the rows."""
    name = column.name
    rules: list[tuple[object, str]] = []
    if column.kind == "id":
        rules.append((lambda: parsed.get(name, "id").str.len() > 0, "id is blank"))
    if column.kind in ("number", "integer"):
        rules.append((lambda: parsed.get(name, "number").notna(), "is not a number"))
    if column.kind == "integer":
        rules.append(
            (
                lambda: (parsed.get(name, "number") % 1 == 0) | parsed.get(name, "number").isna(),
                "is not a whole number",
            )
        )
    if column.min_value is not None:
        low = column.min_value
        rules.append((lambda: ~(parsed.get(name, "number") < low), f"is below the minimum {low:g}"))
    if column.max_value is not None:
        high = column.max_value
        rules.append(
            (lambda: ~(parsed.get(name, "number") > high), f"is above the maximum {high:g}")
        )
    if column.kind == "date":
        rules.append((lambda: parsed.get(name, "date").notna(), "is not a date (YYYY-MM-DD)"))
    if column.allowed is not None:
        allowed = set(column.allowed)
        rules.append(
            (lambda: parsed.get(name, "id").isin(allowed), f"is not one of {sorted(allowed)}")
        )
    if column.references is not None and column.references in masters:
        known = masters[column.references] | set(column.reference_extras)
        what = "item" if column.references == "items" else "location"
        rules.append(
            (
                lambda: parsed.get(name, "id").isin(known),
                f"unknown {what} (not in the {column.references} master)",
            )
        )
    missing = parsed.frame[name].isna()
    return [
        pa.Check(lambda s, rule=rule: (rule().fillna(False) | missing).astype(bool), error=error)
        for rule, error in rules
    ]


def lane_cycles(lanes: pd.DataFrame) -> list[list[str]]:
    """Cycles in the lane graph of any item (all-items lanes count for every item)."""
    frame = lanes.assign(
        source=normalise_id(lanes["source_location_id"]),
        destination=normalise_id(lanes["destination_location_id"]),
        item=normalise_id(lanes["sku"]),
    )
    generic = frame[frame["item"] == ALL_ITEMS]
    cycles = []
    for item in [ALL_ITEMS, *sorted(set(frame["item"]) - {ALL_ITEMS})]:
        edges = generic if item == ALL_ITEMS else pd.concat([generic, frame[frame["item"] == item]])
        graph = nx.DiGraph(list(zip(edges["source"], edges["destination"], strict=True)))
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            continue
        cycles.append([item, *[edge[0] for edge in cycle], cycle[0][0]])
    return cycles


def build_schema(
    extract: Extract, masters: Mapping[str, set[str]], frame: pd.DataFrame
) -> pa.DataFrameSchema:
    """The pandera schema of one extract file's rows, referential checks against ``masters``."""
    parsed = _Parsed(frame)
    columns = {
        c.name: pa.Column(
            None, checks=_column_checks(c, masters, parsed), nullable=c.nullable, coerce=False
        )
        for c in extract.columns
    }
    return pa.DataFrameSchema(columns, name=extract.name, strict=True)


def _failures_from(errors: SchemaErrors) -> list[tuple[int | None, str | None, str]]:
    cases = errors.failure_cases
    failures: list[tuple[int | None, str | None, str]] = []
    for case in cases.itertuples(index=False):
        row = None if pd.isna(case.index) else int(case.index) + 1
        check = str(case.check)
        if check == "not_nullable":
            message = "value is missing"
        else:
            message = f"{case.failure_case!r} {check}"
        failures.append((row, None if pd.isna(case.column) else str(case.column), message))
    failures.sort(key=lambda f: (f[0] if f[0] is not None else -1, f[1] or ""))
    return failures


def check_rows(
    frame: pd.DataFrame,
    extract: Extract,
    masters: Mapping[str, set[str]] | None = None,
    extract_date: dt.date | None = None,
) -> list[tuple[int | None, str | None, str]]:
    """Row-by-row rules on a batch (types, bounds, allowed values, known ids; with
    ``extract_date``, no transaction dated after the extract day). Rows are numbered from 1."""
    schema = build_schema(extract, masters or {}, frame)
    failures: list[tuple[int | None, str | None, str]] = []
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        failures += _failures_from(errors)
    if extract.date_column and extract_date is not None:
        dates = _dates(frame[extract.date_column].astype("string[pyarrow]"))
        late = dates > pd.Timestamp(extract_date)
        for index in late[late.fillna(False)].index[:MAX_REPORTED_FAILURES]:
            failures.append(
                (
                    int(index) + 1,
                    extract.date_column,
                    f"{frame.at[index, extract.date_column]!r} is after the extract day {extract_date}",
                )
            )
    return failures


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
    for name in names:
        path = find_extract_file(folder, name)
        if path is None:
            continue
        try:
            frame = read_extract(path, EXTRACTS[name])
        except ExtractError:
            continue
        found[name] = set(normalise_id(frame[id_column[name]].dropna().astype(str)))
    return found
