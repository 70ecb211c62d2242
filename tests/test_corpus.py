"""Every case of the bad-input corpus (tests/corpus/<case>/) is refused with a clear error,
quarantined, leaves the warehouse as it was, and does not stop the next good day."""

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from extracts.contract import EXTRACTS
from extracts.demo import DemoConfig, write_landing
from extracts.ingest import ingest_extract, landing_folder
from extracts.validate import ExtractError

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
GOOD_DAY = dt.date(2026, 3, 3)
BAD_DAY = GOOD_DAY + dt.timedelta(days=1)
NEXT_DAY = GOOD_DAY + dt.timedelta(days=2)
CONFIG = DemoConfig(
    stores=3, dcs=1, items=8, history_days=60, drop_days=1, end_date=GOOD_DAY, seed=3
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> tuple[Path, Path]:
    """A landing folder with the good day, and a warehouse that has loaded it."""
    root = tmp_path_factory.mktemp("corpus")
    write_landing(root / "landing", CONFIG)
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    for name in EXTRACTS:
        ingest_extract(con, root / "landing", GOOD_DAY, name)
    con.close()
    return root / "landing", root / "warehouse.duckdb"


def _fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    return {
        name: con.execute(
            f'SELECT count(*), sum(hash(x)::HUGEINT) FROM (SELECT * EXCLUDE (loaded_at) FROM raw."{name}") x'
        ).fetchone()
        for name in EXTRACTS
    }


def test_the_corpus_covers_the_listed_faults():
    assert len(CASES) >= 18
    for case in CASES:
        assert (CORPUS / case / "expected.txt").read_text().strip(), case


@pytest.mark.parametrize("case", CASES)
def test_bad_extract_is_refused_and_the_next_day_runs(case, loaded, tmp_path):
    good_landing, good_warehouse = loaded
    landing = tmp_path / "landing"
    shutil.copytree(good_landing, landing)
    for day in (BAD_DAY, NEXT_DAY):
        shutil.copytree(landing_folder(landing, GOOD_DAY), landing_folder(landing, day))
    bad_files = [p for p in (CORPUS / case).iterdir() if p.name != "expected.txt"]
    for path in bad_files:
        shutil.copy(path, landing_folder(landing, BAD_DAY) / path.name)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(good_warehouse, warehouse)
    expected = (CORPUS / case / "expected.txt").read_text().strip()

    con = duckdb.connect(str(warehouse))
    try:
        before = _fingerprint(con)
        for path in bad_files:
            with pytest.raises(ExtractError) as caught:
                ingest_extract(con, landing, BAD_DAY, path.stem)
            assert expected in str(caught.value), str(caught.value)
            reason = landing / "_quarantine" / BAD_DAY.isoformat() / f"{path.name}.reason.txt"
            assert reason.read_text().strip() == str(caught.value)
            assert not (landing_folder(landing, BAD_DAY) / path.name).exists()
        assert _fingerprint(con) == before  # the injection-like id dropped nothing either
        for name in EXTRACTS:  # the next good day still loads, every row of it
            loaded = ingest_extract(con, landing, NEXT_DAY, name).rows
            good = con.execute(
                f'SELECT count(*) FROM raw."{name}" WHERE extract_date = ?', [GOOD_DAY]
            ).fetchone()[0]
            assert loaded == good, name
        days = con.execute(
            "SELECT DISTINCT extract_date FROM raw.sales_orders ORDER BY 1"
        ).fetchall()
        assert [d[0] for d in days] == [GOOD_DAY, NEXT_DAY]
    finally:
        con.close()


@pytest.mark.parametrize("name", ["../2026-03-03", "2026-03-03/../../etc", "2026-13-01", "x'--"])
def test_landing_folder_names_cannot_escape_the_landing(tmp_path, name):
    with pytest.raises(ValueError):
        landing_folder(tmp_path, name)
