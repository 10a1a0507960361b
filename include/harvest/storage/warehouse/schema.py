"""Every warehouse table: the shared tables, ``processed_<source>`` and ``versions_<source>``
from a spec, the catalogue's observed dates and crawl accounts, ``predictions_<source>``, and
the column kinds compared across dialects; their migration is :mod:`.migrations`. Timestamps
are :class:`.dialects.UtcDateTime` in every table, reflected ones included."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from harvest.config.spec import SourceSpec
from harvest.fields import FieldKind, field_kind
from harvest.storage.warehouse.dialects import (
    UtcDateTime,
    json_type,
    utc_reflected,
)
from harvest.storage.warehouse.errors import WarehouseError

log = logging.getLogger(__name__)

PROCESSED_PREFIX = "processed_"
VERSIONS_PREFIX = "versions_"
PREDICTIONS_PREFIX = "predictions_"
MIGRATION_LOCK_ID = 0x68617276  # "harv": serialises concurrent migrations on PostgreSQL
# Columns every processed table has besides the spec's fields.
KEY_COLUMNS = ("source", "record_key")
RESERVED_COLUMNS = frozenset(
    {"source", "record_key", "logical_date", "url", "is_duplicate_of", "imputed", "loaded_at"}
)


def sql_type(kind: str | FieldKind) -> sa.types.TypeEngine[Any]:
    """The column type of a field kind (a kind or its name), the same in the processed and the
    versions table: its ``sql_type_name`` (a SQLAlchemy generic type) with the variants its
    ``sql_dialect_types`` name (``{"postgresql": "JSONB"}``)."""
    field_type = kind if isinstance(kind, FieldKind) else field_kind(kind)
    generic: type[sa.types.TypeEngine[Any]] = getattr(sa, field_type.sql_type_name)
    column_type = generic()
    for dialect, name in (field_type.sql_dialect_types or {}).items():
        variant = getattr(importlib.import_module(f"sqlalchemy.dialects.{dialect}"), name)
        column_type = column_type.with_variant(variant(), dialect)
    return column_type


_SHARED = sa.MetaData()

QUARANTINE = sa.Table(
    "quarantine",
    _SHARED,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("field", sa.Text, primary_key=True),
    sa.Column("check", sa.Text, primary_key=True),
    sa.Column("stage", sa.Text, primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("severity", sa.Text, nullable=False),
)

VALIDATION_RESULTS = sa.Table(
    "validation_results",
    _SHARED,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("expectation", sa.Text, primary_key=True),
    # '' for expectations on the whole partition (a key column cannot be NULL)
    sa.Column("column", sa.Text, primary_key=True),
    sa.Column("severity", sa.Text),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("element_count", sa.BigInteger),
    sa.Column("unexpected_count", sa.BigInteger),
    sa.Column("pass_rate", sa.Double),
    sa.Column("observed_value", sa.Text),
    sa.Column("details", json_type()),
)

PARTITION_LOADS = sa.Table(
    "partition_loads",
    _SHARED,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("scraped", sa.BigInteger, nullable=False),
    sa.Column("valid", sa.BigInteger, nullable=False),
    sa.Column("quarantined", sa.BigInteger, nullable=False),
    sa.Column("duplicates", sa.BigInteger, nullable=False),
    sa.Column("imputed", sa.BigInteger, nullable=False),
    sa.Column("loaded", sa.BigInteger, nullable=False),
    sa.Column("validation_passed", sa.Boolean, nullable=False),
    sa.Column("loaded_at", UtcDateTime(), nullable=False),
    # added by the modes migration: NULL in rows recorded before it
    sa.Column("updated", sa.BigInteger),  # listings: known keys loaded with changed fields
    sa.Column("versions_opened", sa.BigInteger),  # catalogue: versions with valid_from = date
    sa.Column("versions_closed", sa.BigInteger),  # catalogue: versions with valid_to = date
    sa.Column("versions_unchanged", sa.BigInteger),  # catalogue: seen again, nothing changed
    # catalogue: open versions whose key was not observed (its list page failed): kept open
    sa.Column("versions_unobserved", sa.BigInteger),
    sa.Column("warnings", json_type()),  # {name: {severity, counts...}} (harvest.loading.warnings)
)

CRAWL_MONITORS = sa.Table(
    "crawl_monitors",
    _SHARED,
    # one row per crawl monitor of a partition (harvest.scraping.health), replaced on re-run
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("monitor", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),  # passed | failed | skipped
    sa.Column("severity", sa.Text, nullable=False),  # warning | critical (spec monitors.critical)
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("checked_at", UtcDateTime(), nullable=False),
)

CRAWL_STATS = sa.Table(
    "crawl_stats",
    _SHARED,
    # one row per crawled partition: the crawl's own figures (harvest.scraping.runner's
    # CrawlResult), replaced on re-run; what the app's Sources page shows of a crawl
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("pages", sa.BigInteger, nullable=False),  # fetched (incl. rendered) + failed
    sa.Column("failed_pages", sa.BigInteger, nullable=False),
    sa.Column("ignored_pages", sa.BigInteger, nullable=False),  # robots.txt, off-site
    # page items the spider yielded: one a page (list, item or failed page), not records
    sa.Column("items", sa.BigInteger, nullable=False),
    sa.Column("cards_seen", sa.BigInteger, nullable=False),  # cards on list pages, every level
    # records the crawl produced: item pages + card items (CrawlResult.item_pages), to set
    # beside cards_seen; NULL: a crawl stored before the column
    sa.Column("records", sa.BigInteger),
    # of cards_seen, cards of an item seen before (no second record); NULL: as records
    sa.Column("cards_duplicate", sa.BigInteger),
    sa.Column("js_pages", sa.BigInteger, nullable=False),
    sa.Column("cached_responses", sa.BigInteger, nullable=False),
    sa.Column("requests_to_site", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("duration_seconds", sa.Double, nullable=False),
    sa.Column("finish_reason", sa.Text, nullable=False),
    sa.Column("links_skipped", json_type()),  # {reason: links}, every level
    sa.Column("completeness_warnings", sa.BigInteger, nullable=False),
    # {field: item pages or cards read} where the field's regex matched none of the text found
    sa.Column("fields_regex_unmatched", json_type()),
    # a forced crawl of a past night: the day its pages were observed on (NULL: that night)
    sa.Column("observed_on", sa.Date),
    sa.Column("date_loaded", sa.Boolean),  # whether the date was loaded when it was crawled
    sa.Column("crawled_at", UtcDateTime(), nullable=False),
)

DEDUP_MATCHES = sa.Table(
    "dedup_matches",
    _SHARED,
    # a row per record de-duplication dropped, or matched and kept (harvest.cleaning.dedup):
    # the record, the record it matched, the rule and the score; replaced per partition
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),  # row in the partition's decisions
    sa.Column("record_key", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("matched_key", sa.Text, nullable=False),
    sa.Column("matched_date", sa.Date),
    sa.Column("rule", sa.Text, nullable=False),  # key | content | near
    sa.Column("scope", sa.Text, nullable=False),  # batch | history
    sa.Column("score", sa.Double),  # near: dedupe's match probability; key, content: 1.0
    sa.Column("action", sa.Text, nullable=False),  # dropped | reported | kept (borderline)
    sa.Column("record", json_type()),  # the compared fields of the record
    sa.Column("matched_record", json_type()),  # and of the record it matched
    sa.Index("ix_dedup_matches_record", "source", "record_key"),
)

_CATALOGUE = sa.MetaData()  # created with the first catalogue source

CATALOGUE_PARTITIONS = sa.Table(
    "catalogue_partitions",
    _CATALOGUE,
    # the dates a catalogue source was observed on, even with no row: what closes versions
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    # the processed columns that date's load wrote (a JSON list; NULL: every column of the
    # table then): a column added later is no change of the items observed before it
    sa.Column("columns", json_type()),
)

CRAWL_BRANCHES = sa.Table(
    "crawl_branches",
    _CATALOGUE,
    # a catalogue crawl's branches of list pages per date (harvest.observation): was each read
    # whole? An item is closed as gone only when a branch that listed it was.
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("branch", sa.Text, primary_key=True),  # the URL of its first page
    sa.Column("parent", sa.Text),  # the branch that linked it (NULL: a start URL)
    sa.Column("level", sa.Text),
    sa.Column("pages", sa.BigInteger, nullable=False),
    sa.Column("failed_pages", sa.BigInteger, nullable=False),
    sa.Column("complete", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),  # why not complete
)

CRAWL_LISTED = sa.Table(
    "crawl_listed",
    _CATALOGUE,
    # what each branch's pages listed per date: item URLs (where they ended) and deeper pages
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("logical_date", sa.Date, primary_key=True),
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("branch", sa.Text, primary_key=True),
    sa.Index("ix_crawl_listed_url", "source", "url"),
)


def processed_table_name(source: str) -> str:
    return f"{PROCESSED_PREFIX}{source}"


def versions_table_name(source: str) -> str:
    return f"{VERSIONS_PREFIX}{source}"


def predictions_table_name(source: str) -> str:
    return f"{PREDICTIONS_PREFIX}{source}"


def predictions_table(source: str, metadata: sa.MetaData | None = None) -> sa.Table:
    """``predictions_<source>``: per processed row and date, the ``@champion`` model's
    prediction, the model name and version that made it and its top SHAP contributions (JSON
    ``[{"feature", "value", "contribution"}]``). Created by the first scoring, not by
    :func:`migrate` (a source without a model has no predictions)."""
    return sa.Table(
        predictions_table_name(source),
        metadata or sa.MetaData(),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("record_key", sa.Text, primary_key=True),
        sa.Column("logical_date", sa.Date, primary_key=True),
        sa.Column("prediction", sa.Double, nullable=False),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("explanation", sa.JSON, nullable=False),
        sa.Column("scored_at", UtcDateTime(), nullable=False),
    )


def key_columns(spec: SourceSpec) -> tuple[str, ...]:
    """The primary key of ``processed_<source>``: one row per key (listings) or one per key and
    date, the observations (catalogue)."""
    return (*KEY_COLUMNS, "logical_date") if spec.mode == "catalogue" else KEY_COLUMNS


def field_columns(spec: SourceSpec, fields: Iterable[str] | None = None) -> list[str]:
    """The columns of the spec's fields (all, or ``fields``), in table order."""
    wanted = set(spec.detail.fields if fields is None else fields)
    return [
        column
        for name, field_spec in spec.detail.fields.items()
        if name in wanted
        for column in field_spec.columns(name)
    ]


def observed_columns(spec: SourceSpec, fields: Iterable[str] | None = None) -> dict[str, str]:
    """The columns of the spec's fields (all, or ``fields``) that the page states, each with
    the field it belongs to: a field's own column and the extra columns parsed from its value
    (a price's currency). Derived columns, filled from outside the page (a ``convert_to``
    column, from the day's exchange rate), are left out: they are no observation of the item."""
    wanted = set(spec.detail.fields if fields is None else fields)
    out: dict[str, str] = {}
    for name, field_spec in spec.detail.fields.items():
        if name not in wanted:
            continue
        derived = field_spec.converted_column(name)
        for column in field_spec.columns(name):
            if column != derived:
                out[column] = name
    return out


def processed_columns(spec: SourceSpec) -> dict[str, str]:
    """The loaded columns of a source's processed table and their field kind (``json`` for
    arrays), in table order; ``loaded_at`` is set by the load itself."""
    columns = {"source": "text", "record_key": "text", "logical_date": "date", "url": "text"}
    for name, field_spec in spec.detail.fields.items():
        for column, kind in field_spec.columns(name).items():
            if column in RESERVED_COLUMNS or column in columns:
                raise WarehouseError(
                    f"source {spec.name}: field {name!r} needs column {column!r}, which is "
                    f"already taken; rename the field in the spec"
                )
            columns[column] = kind
    columns["is_duplicate_of"] = "text"
    columns["imputed"] = "json"
    return columns


def processed_table(spec: SourceSpec, metadata: sa.MetaData | None = None) -> sa.Table:
    """The ``processed_<source>`` table as the spec defines it."""
    name = processed_table_name(spec.name)
    keys = key_columns(spec)
    columns: list[sa.schema.SchemaItem] = []
    for column, kind in processed_columns(spec).items():
        if column == "logical_date" and column in keys:
            columns.append(sa.Column(column, sa.Date, primary_key=True))
        elif column in KEY_COLUMNS:
            columns.append(sa.Column(column, sa.Text, primary_key=True))
        elif column in ("logical_date", "url"):
            columns.append(sa.Column(column, sql_type(kind), nullable=False))
        else:
            columns.append(sa.Column(column, sql_type(kind)))
    columns.append(sa.Column("loaded_at", UtcDateTime(), nullable=False))
    columns.append(sa.Index(f"ix_{name}_logical_date", "logical_date"))
    return sa.Table(name, metadata or sa.MetaData(), *columns)


def versions_table(spec: SourceSpec, metadata: sa.MetaData | None = None) -> sa.Table:
    """``versions_<source>`` of a catalogue source: a type-2 slowly changing dimension, one row
    per (key, valid_from); ``valid_to`` is the date the version was replaced or the key
    disappeared (NULL: current), ``last_seen`` the last date it was observed."""
    name = versions_table_name(spec.name)
    kinds = processed_columns(spec)
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("record_key", sa.Text, primary_key=True),
        sa.Column("valid_from", sa.Date, primary_key=True),
        sa.Column("valid_to", sa.Date),
        sa.Column("last_seen", sa.Date, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
    ]
    columns += [sa.Column(c, sql_type(kinds[c])) for c in field_columns(spec)]
    columns.append(sa.Column("loaded_at", UtcDateTime(), nullable=False))
    columns.append(sa.Index(f"ix_{name}_current", "source", "valid_to"))
    return sa.Table(name, metadata or sa.MetaData(), *columns)


def _type_family(sql_type: sa.types.TypeEngine[Any]) -> str:
    """A dialect-independent name for a column type (``bool``, ``date``, ``datetime``, ``int``,
    ``float``, ``json``, ``text``, else the type's own name), to compare the spec with the
    database and to type what is read back."""
    if isinstance(sql_type, sa.types.TypeDecorator):
        sql_type = sql_type.impl_instance
    for family, cls in (
        ("bool", sa.Boolean),
        ("date", sa.Date),
        ("datetime", sa.DateTime),
        ("int", sa.Integer),
        ("float", sa.Float),
        ("json", sa.JSON),
        ("text", sa.String),
    ):
        if isinstance(sql_type, cls):
            return family
    return type(sql_type).__name__.lower()


def reflect(conn: sa.Connection, source: str, name: str | None = None, hint: str = "") -> sa.Table:
    """Table ``name`` (default: the source's processed table) as the database has it, its
    timestamps as :class:`~.dialects.UtcDateTime`; a missing table raises :class:`WarehouseError`
    saying to migrate (after ``hint``)."""
    name = name or processed_table_name(source)
    try:
        return sa.Table(
            name,
            sa.MetaData(),
            autoload_with=conn,
            listeners=[("column_reflect", utc_reflected)],
        )
    except sa.exc.NoSuchTableError as exc:
        raise WarehouseError(
            f"source {source}: table {name} does not exist{hint}; "
            "run `python -m harvest warehouse migrate` first"
        ) from exc


def has_table(conn: sa.Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)
