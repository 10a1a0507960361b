"""The same hostile strings through both warehouses store the same text (issue 7, item 7).

Raw pages holding NUL, lone surrogates, 1 MB of text and everything the COPY CSV path could
mangle (tabs, newlines, ``\\r\\n``, backslashes, ``\\.``, ``\\N``, quotes, commas) go through the
real stages -- validate (quarantine), clean, load -- once into SQLite and once into PostgreSQL;
what is read back must be the expected cleaned string, and identical between the backends.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from harvest.cleaning.stage import clean_partition
from harvest.config.settings import PACKAGE_DIR, Settings
from harvest.config.spec import SourceSpec, load_spec
from harvest.storage.raw import FileRawStore, RawDocument
from harvest.storage.staging import read_frame
from harvest.storage.warehouse import QUARANTINE, Warehouse, open_warehouse, processed_table_name
from harvest.validation.run import validate_partition
from tests.integration.test_validation_partition import DAY, detail

MEGABYTE = "Köln\tSüd " * 100_000  # 1.1 MB of UTF-8

# (as scraped, as stored): NUL is removed, a lone surrogate becomes U+FFFD, text is NFC;
# everything else is kept byte for byte
HOSTILE: list[tuple[str, str]] = [
    ("nul\x00inside", "nulinside"),
    ("\x00\x00", ""),
    ("lone \ud800 high", "lone \ufffd high"),
    ("lone \udfff low", "lone \ufffd low"),
    ("pair \ud83d\ude00 joined", "pair \U0001f600 joined"),
    ("Ko\u0308ln decomposed", "Köln decomposed"),
    ("tab\there", "tab\there"),
    ("new\nline", "new\nline"),
    ("crlf\r\nline", "crlf\r\nline"),
    ("cr\ronly", "cr\ronly"),
    ("back\\slash\\", "back\\slash\\"),
    ("\\.", "\\."),
    ("end marker\n\\.\nafter", "end marker\n\\.\nafter"),
    ("\\N", "\\N"),
    ('"double" quotes""', '"double" quotes""'),
    ("'single' quotes", "'single' quotes"),
    ("comma, separated,", "comma, separated,"),
    ("control \x01\x1f\x7f", "control \x01\x1f\x7f"),
    ("\ufeffbom and \u2028 separator", "\ufeffbom and \u2028 separator"),
    ("  spaced  ", "  spaced  "),
]
BIG = (f"{MEGABYTE}\x00end", f"{MEGABYTE}end")


def _doc(source: str, i: int, url: str, **fields: str) -> RawDocument:
    # a built year of its own: no two records are re-listings of each other
    page = detail(source, i, built_year=str(1850 + i % 180), **fields)
    return dataclasses.replace(page, url=url)


def _pages(source: str) -> list[RawDocument]:
    """One valid record per hostile string (in its title and URL) and one quarantined record
    per hostile string (in its unparseable price and URL); the 1 MB text in a title and a price
    only (a URL is indexed in the quarantine table)."""
    docs = []
    for i, (raw, _) in enumerate(HOSTILE):
        docs.append(_doc(source, i, f"http://h.test/ok/{i}/{raw}", title=f"T{i} {raw}"))
        docs.append(
            _doc(source, 100 + i, f"http://h.test/bad/{i}/{raw}", price=f"auf Anfrage {raw}")
        )
    docs.append(_doc(source, 99, "http://h.test/ok/big", title=BIG[0]))
    docs.append(_doc(source, 199, "http://h.test/bad/big", price=BIG[0]))
    return docs


def _expected() -> tuple[dict[str, str], dict[str, str]]:
    """(url -> title) of the processed table, (url -> value) of the quarantine."""
    collapse = " ".join  # cleaning collapses whitespace in text fields, never in URLs
    processed = {
        f"http://h.test/ok/{i}/{kept}": collapse(f"T{i} {kept}".split())
        for i, (_, kept) in enumerate(HOSTILE)
    }
    processed["http://h.test/ok/big"] = collapse(BIG[1].split())
    quarantined = {
        f"http://h.test/bad/{i}/{kept}": f"auf Anfrage {kept}"
        for i, (_, kept) in enumerate(HOSTILE)
    }
    quarantined["http://h.test/bad/big"] = BIG[1]
    return processed, quarantined


def _run(spec: SourceSpec, settings: Settings, warehouse: Warehouse) -> dict[str, int]:
    """Validate, clean and load the hostile partition; return the validation report's repairs."""
    store = FileRawStore(settings.home / "raw")
    store.upsert_many(_pages(spec.name))
    report = validate_partition(
        spec, DAY, settings, raw_store=store, warehouse=warehouse, data_docs=False
    )
    cleaned = clean_partition(spec, DAY, settings, warehouse=warehouse)
    warehouse.load_partition(spec, DAY, read_frame(cleaned.cleaned_uri))
    return report.text_repairs


def _read_back(warehouse: Warehouse, spec: SourceSpec) -> tuple[dict[str, str], dict[str, str]]:
    with warehouse.engine.connect() as conn:
        table = sa.Table(processed_table_name(spec.name), sa.MetaData(), autoload_with=conn)
        processed = dict(conn.execute(sa.select(table.c.url, table.c.title)).tuples().all())
        quarantined = dict(
            conn.execute(
                sa.select(QUARANTINE.c.url, QUARANTINE.c.value).where(
                    QUARANTINE.c.source == spec.name, QUARANTINE.c.field == "price"
                )
            )
            .tuples()
            .all()
        )
    return processed, quarantined


@pytest.fixture
def spec() -> SourceSpec:
    demo = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")
    validation = demo.validation.model_copy(update={"max_quarantine_rate": 1.0})
    return demo.model_copy(
        update={"name": f"hostile_{uuid.uuid4().hex[:8]}", "validation": validation}
    )


@pytest.fixture
def postgres(postgres_url: str, spec: SourceSpec) -> Iterator[Warehouse]:
    warehouse = open_warehouse(postgres_url)
    warehouse.migrate([spec])
    yield warehouse
    with warehouse.engine.begin() as conn:
        conn.execute(sa.delete(QUARANTINE).where(QUARANTINE.c.source == spec.name))
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{processed_table_name(spec.name)}"'))
    warehouse.close()


@pytest.mark.postgres
def test_hostile_text_is_stored_identically_in_sqlite_and_postgres(
    tmp_path: Path, spec: SourceSpec, postgres: Warehouse
) -> None:
    expected = _expected()
    read: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for name in ("sqlite", "postgresql"):
        settings = Settings.from_env({"HARVEST_HOME": str(tmp_path / name)})
        if name == "sqlite":
            warehouse = open_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
            warehouse.migrate([spec])
        else:
            warehouse = postgres
        repairs = _run(spec, settings, warehouse)
        # each string is in a URL and a field of two records; the JSON raw store already joins
        # the valid surrogate pair, so two lone ones are left to repair
        assert repairs == {"nul_removed": 10, "surrogates_repaired": 8, "recomposed": 4}
        read[name] = _read_back(warehouse, spec)
        if name == "sqlite":
            warehouse.close()
    assert read["sqlite"][0] == expected[0]
    assert read["sqlite"][1] == expected[1]
    assert read["postgresql"] == read["sqlite"]


# what the warehouse repairs itself: only values it could not store the same on both backends
# (NUL, surrogates); making text NFC is extraction's job
UNSTORABLE = [(raw, kept) for raw, kept in [*HOSTILE, BIG] if "\u0308" not in raw]


def _raw_issues(source: str) -> pd.DataFrame:
    rows = [
        {"url": f"http://h.test/{i}", "value": raw, "reason": f"bad {raw}"}
        for i, (raw, _) in enumerate(UNSTORABLE)
    ]
    return pd.DataFrame(rows, dtype="object").assign(
        source=source, logical_date=DAY.isoformat(), field="title", check="manual"
    )


@pytest.mark.postgres
def test_quarantine_values_are_cleaned_defensively_on_both_backends(
    tmp_path: Path, spec: SourceSpec, postgres: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    """Quarantine rows written by any stage (not only from extracted text) are stored the same."""
    expected = {f"http://h.test/{i}": kept for i, (_, kept) in enumerate(UNSTORABLE)}
    sqlite = open_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    sqlite.migrate([spec])
    read = {}
    for warehouse in (sqlite, postgres):
        warehouse.replace_quarantine(spec.name, DAY, "clean", _raw_issues(spec.name))
        with warehouse.engine.connect() as conn:
            rows = conn.execute(
                sa.select(QUARANTINE.c.url, QUARANTINE.c.value, QUARANTINE.c.reason).where(
                    QUARANTINE.c.source == spec.name
                )
            ).all()
        read[warehouse.dialect] = {url: (value, reason) for url, value, reason in rows}
    sqlite.close()
    assert read["sqlite"] == {url: (kept, f"bad {kept}") for url, kept in expected.items()}
    assert read["postgresql"] == read["sqlite"]
    assert "held NUL" in caplog.text
