"""The published tables describe themselves from one source: serving/catalogue.yml and the
marts' dbt yml, as COMMENTs in the serving file and its views, and in docs/outputs.md."""

import datetime as dt

import duckdb

from serving.catalogue import (
    MANIFEST,
    OUTPUTS_DOC,
    Catalogue,
    TableDoc,
    load_catalogue,
    outputs_doc,
)
from serving.publish import SERVING_FILE, VIEWS_FILE, publish


def test_docs_outputs_lists_the_catalogue_as_it_is():
    text = OUTPUTS_DOC.read_text()
    assert outputs_doc(load_catalogue(MANIFEST), text) == text, (
        "docs/outputs.md is stale: run python -m serving.catalogue"
    )


def test_every_mart_column_is_described_in_dbt():
    catalogue = load_catalogue(MANIFEST)
    marts = [name for name in catalogue.tables if name.startswith(("dim_", "fct_"))]
    assert len(marts) >= 8
    for name in marts:
        doc = catalogue.table(name)
        assert doc.description, name
        assert doc.columns and all(doc.columns.values()), name


def test_a_table_s_own_meaning_wins_over_the_glossary_and_history_inherits():
    catalogue = Catalogue(
        {"plan": TableDoc("The plan.", {"qty": "Units to order."})},
        {"qty": "Units.", "published_run_date": "Run date of the slice."},
    )
    assert catalogue.column("plan", "qty") == "Units to order."
    assert catalogue.column("other", "qty") == "Units."
    assert catalogue.column("plan_history", "qty") == "Units to order."
    assert catalogue.column("plan_history", "published_run_date") == "Run date of the slice."
    assert catalogue.table("plan_history").description.startswith("The plan. One slice per")
    assert catalogue.column("plan", "unknown") == ""


def test_publication_comments_tables_columns_and_views(tmp_path):
    warehouse = duckdb.connect(str(tmp_path / "w.duckdb"))
    warehouse.execute("CREATE SCHEMA marts")
    warehouse.execute("CREATE TABLE marts.plan AS SELECT 1 AS node, 2.5 AS qty")
    catalogue = Catalogue(
        {"plan": TableDoc("The plan's rows, it's said.", {"qty": "Units to order."})},
        {"node": "A node.", "output_version": "Columns' version."},
    )
    serving = tmp_path / "serving"
    publish(
        warehouse, [("marts", "plan")], serving, dt.date(2026, 3, 3), ["plan"], catalogue, "CHF"
    )
    warehouse.close()
    served = duckdb.connect(str(serving / SERVING_FILE), read_only=True)
    table = served.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'plan'")
    assert table.fetchone()[0] == "The plan's rows, it's said."
    columns = dict(
        served.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'plan'"
        ).fetchall()
    )
    assert columns == {
        "node": "A node.",
        "qty": "Units to order.",
        "output_version": "Columns' version.",
    }
    assert served.execute("SELECT currency FROM publication").fetchone()[0] == "CHF"
    served.close()
    reader = duckdb.connect()
    reader.execute((serving / VIEWS_FILE).read_text())
    view = reader.execute(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'plan_history' "
        "AND column_name = 'qty'"
    )
    assert view.fetchone()[0] == "Units to order."
    reader.close()


def test_dbt_sources_say_what_the_extract_contract_says_and_have_a_freshness():
    import json

    from extracts.contract import EXTRACTS

    sources = json.loads(MANIFEST.read_text())["sources"].values()
    described = {s["name"]: s for s in sources}
    assert set(described) == set(EXTRACTS)
    for name, extract in EXTRACTS.items():
        assert described[name]["description"] == extract.description, name
        assert described[name]["loaded_at_field"] == "loaded_at"
        assert described[name]["freshness"]["error_after"]["count"]
