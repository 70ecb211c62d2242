"""What each published table and column means, written once: ``serving/catalogue.yml`` for the
tables the pipeline computes, the dbt models' yml (through the manifest) for the marts.

``publish`` writes these as COMMENT ON every table and column of the serving file and of the
views in ``views.sql``; ``markdown`` renders them for docs/outputs.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CATALOGUE = Path(__file__).with_name("catalogue.yml")
ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "transforms" / "target" / "manifest.json"  # written by `dbt parse` (setup)
OUTPUTS_DOC = ROOT / "docs" / "outputs.md"
START, END = "<!-- catalogue: start (python -m serving.catalogue) -->", "<!-- catalogue: end -->"
HISTORY_SUFFIX = "_history"


@dataclass(frozen=True)
class TableDoc:
    """A table's description and its columns' (name -> description)."""

    description: str
    columns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalogue:
    """Descriptions of the published tables; ``glossary``: a column name's meaning wherever a
    table does not say otherwise."""

    tables: Mapping[str, TableDoc]
    glossary: Mapping[str, str]

    def table(self, name: str) -> TableDoc:
        """The description of table ``name`` (``<name>_history``: one slice per run date of
        ``<name>``); an empty description for a table the catalogue does not know."""
        base = name.removesuffix(HISTORY_SUFFIX)
        doc = self.tables.get(base, TableDoc(""))
        if base != name and base in self.tables:
            return TableDoc(f"{doc.description} One slice per run date (published_run_date).")
        return doc

    def column(self, table: str, column: str) -> str:
        """What ``column`` of ``table`` means ('' when nothing says)."""
        own = self.tables.get(table.removesuffix(HISTORY_SUFFIX), TableDoc("")).columns
        return own.get(column) or self.glossary.get(column, "")


def load_catalogue(manifest: Path | None = None) -> Catalogue:
    """``serving/catalogue.yml``, with the dbt models of schema ``marts`` from ``manifest``
    (a dbt ``manifest.json``) where given."""
    raw = yaml.safe_load(CATALOGUE.read_text())
    tables: dict[str, TableDoc] = {}
    for name, table in raw["tables"].items():
        inherited = raw["tables"].get(table.get("inherit"), {}).get("columns", {})
        tables[name] = TableDoc(table["description"], {**inherited, **table.get("columns", {})})
    if manifest is not None:
        nodes = json.loads(Path(manifest).read_text())["nodes"].values()
        for node in nodes:
            if node["resource_type"] == "model" and node["schema"] == "marts":
                tables[node["name"]] = TableDoc(
                    " ".join(node["description"].split()),
                    {c: " ".join(d["description"].split()) for c, d in node["columns"].items()},
                )
    return Catalogue(tables, raw["columns"])


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def comment_statements(
    catalogue: Catalogue, relation: str, table: str, columns: list[str], kind: str = "TABLE"
) -> list[str]:
    """COMMENT ON statements for ``relation`` (the quoted, qualified name of ``table``, a
    TABLE or a VIEW) and each of its ``columns`` that the catalogue describes."""
    statements = []
    description = catalogue.table(table).description
    if description:
        statements.append(f"COMMENT ON {kind} {relation} IS {sql_literal(description)}")
    for column in columns:
        text = catalogue.column(table, column)
        if text:
            statements.append(f'COMMENT ON COLUMN {relation}."{column}" IS {sql_literal(text)}')
    return statements


def markdown(catalogue: Catalogue, tables: list[str]) -> str:
    """A section per table of ``tables``: its description and a column | meaning list of the
    columns the catalogue gives it (the glossary's are listed once, first)."""
    lines = ["| column | meaning (any table that has it, unless the table says otherwise) |"]
    lines += ["|---|---|"]
    lines += [f"| `{c}` | {t} |" for c, t in sorted(catalogue.glossary.items())]
    for name in tables:
        doc = catalogue.table(name)
        lines += ["", f"### {name}", "", doc.description]
        if doc.columns:
            lines += ["", "| column | meaning |", "|---|---|"]
            lines += [f"| `{c}` | {t} |" for c, t in doc.columns.items()]
    return "\n".join(lines) + "\n"


def outputs_doc(catalogue: Catalogue, text: str) -> str:
    """``text`` (docs/outputs.md) with the part between START and END rendered from
    ``catalogue``: the tables in the catalogue's order, then the marts."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    computed = list(yaml.safe_load(CATALOGUE.read_text())["tables"])
    marts = sorted(name for name in catalogue.tables if name not in computed)
    return f"{head}{START}\n{markdown(catalogue, computed + marts)}{END}{tail}"


def main() -> None:
    """Rewrite docs/outputs.md's column lists from the catalogue (``--check``: exit 1 when
    they differ)."""
    catalogue = load_catalogue(MANIFEST)
    text = OUTPUTS_DOC.read_text()
    rendered = outputs_doc(catalogue, text)
    if "--check" in sys.argv[1:]:
        sys.exit(0 if rendered == text else 1)
    OUTPUTS_DOC.write_text(rendered)


if __name__ == "__main__":
    main()
