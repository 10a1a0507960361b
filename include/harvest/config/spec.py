"""Source specs: one YAML file per source, loaded into validated models.

A spec says where a source lives (start URLs with the data interval in them, or a sitemap), how
to walk it (its crawl graph: link levels with their own pagination, cards, detail pages), what to
extract (field selectors, regexes, maps and their parsers), which
pages need JavaScript, when it runs, its SLA and the target column. A bad spec raises
:class:`SpecError` naming the file and the field; :func:`load_specs` keeps going so that one broken
source never stops the others from loading.

Size: one pydantic model per section of a spec file, each small, with the cross-section checks
(graph against fields, key, target, dedup fields, convert_to's rates file, mode and
tracked_fields) on :class:`SourceSpec`; reading the spec language top to bottom in one file is
worth more than the split (the sections would import each other).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harvest.fields import MANY_KIND, UnknownFieldKind, field_kind

# libyaml's safe loader when PyYAML has it (8x faster: specs are read at every DAG parse)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Celery queue names end up in Redis keys and `celery worker --queues a,b`: no commas, no spaces.
QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
TEMPLATE_KEYS = {"base_url", "date", "start", "end"}


class SpecError(ValueError):
    """A source spec that cannot be used; names the file and the field at fault."""

    def __init__(self, path: Path | str, field: str, message: str) -> None:
        self.path = Path(path)
        self.field = field
        self.message = message
        where = f"{self.path}: {field}" if field else str(self.path)
        super().__init__(f"{where}: {message}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldChecks(_Model):
    """Expectations on one parsed field. Record-level checks (range, set, format) quarantine the
    records that break them; ``max_null_rate`` is checked on the whole partition."""

    min: float | None = None
    max: float | None = None
    values: list[str] | None = Field(None, description="allowed values (after parsing)")
    regex: str | None = Field(None, description="format the parsed text must match")
    column: str | None = Field(
        None,
        description="the column min/max apply to: the field's own (default) or one of its "
        "extra columns (price_eur, salary_max)",
    )
    max_null_rate: float | None = Field(None, ge=0, le=1)
    min_coverage: float | None = Field(
        None, ge=0, le=1, description="least share of a partition's records with a value"
    )
    severity: Literal["critical", "warning"] = Field(
        "warning", description="critical: a partition that breaks max_null_rate fails the task"
    )

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r}: {exc}") from exc
        return value


class FieldSpec(_Model):
    """How to extract one field of an item, what to expect of it, and how to fill it in when it
    is missing.

    The text comes from the item page (``from: page``, the default), from the item's card on a
    list page (``from: card``) or from the page URL (``from: url``, with ``regex``). A selector
    (``css`` or ``xpath``) that selects an element gives the element's whole text,
    whitespace-normalised; ``::text`` / ``text()`` give text nodes and ``::attr(name)`` /
    ``@name`` attributes. Then ``regex`` keeps its first capture group that matched (the whole
    match without a group), ``map`` replaces a string by its value, and ``default`` stands in for
    nothing at all. ``many: true`` keeps every match (a JSON array column).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    css: str | None = None
    xpath: str | None = None
    from_: Literal["page", "card", "url"] = Field("page", alias="from")
    regex: str | None = Field(None, description="keep the first capture group that matched")
    map: dict[str, str | int | float | bool] | None = Field(
        None, description="extracted string -> value (a string not in the map is kept)"
    )
    default: str | int | float | bool | None = Field(
        None, description="the value when the selector matches nothing"
    )
    many: bool = Field(False, description="keep every match, stored as a JSON array")
    parser: str = "text"
    required: bool = False
    on_error: Literal["null", "quarantine"] | None = Field(
        None,
        description="a value that does not parse: null (a warning per field) or quarantine "
        "the record; default null for optional fields, quarantine for required ones",
    )
    formats: list[str] | None = Field(None, description="date: the only strftime formats accepted")
    languages: list[str] | None = Field(None, description="date: ISO 639-1 languages to read")
    convert_to: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="price: also store the amount in this ISO 4217 currency as <field>_<code>",
    )
    checks: FieldChecks = FieldChecks()
    impute: Literal["none", "median", "mode", "constant"] = "none"
    impute_value: str | float | int | bool | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> FieldSpec:
        if self.from_ == "url":
            if self.css is not None or self.xpath is not None:
                raise ValueError("'from: url' takes a 'regex', not 'css' or 'xpath'")
            if self.regex is None:
                raise ValueError("'from: url' needs a 'regex' (with a capture group)")
        elif (self.css is None) == (self.xpath is None):
            raise ValueError("give exactly one of 'css' or 'xpath'")
        return self

    @model_validator(mode="after")
    def _constant_has_value(self) -> FieldSpec:
        if self.impute == "constant" and self.impute_value is None:
            raise ValueError("impute: constant needs impute_value")
        if self.required and self.impute != "none":
            raise ValueError("a required field cannot be imputed")
        if self.many and self.impute != "none":
            raise ValueError("a 'many: true' field cannot be imputed")
        if self.many and any(
            v is not None for v in (self.checks.min, self.checks.max, self.checks.values)
        ):
            raise ValueError("a 'many: true' field takes only checks.max_null_rate and regex")
        return self

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        return FieldChecks._valid_regex(value)

    @field_validator("parser")
    @classmethod
    def _known_parser(cls, value: str) -> str:
        try:
            field_kind(value)
        except UnknownFieldKind as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _options_fit_the_parser(self) -> FieldSpec:
        field_kind(self.parser).parser(**self.parser_options)  # ValueError names the option
        return self

    @property
    def parser_options(self) -> dict[str, Any]:
        """The options this field sets for its kind (``formats``, ``languages``, ``convert_to``)."""
        options = {
            "formats": self.formats,
            "languages": self.languages,
            "convert_to": self.convert_to,
        }
        return {k: v for k, v in options.items() if v is not None}

    @property
    def error_policy(self) -> Literal["null", "quarantine"]:
        """What a value that does not parse does: ``on_error``, else by ``required``."""
        if self.on_error is not None:
            return self.on_error
        return "quarantine" if self.required else "null"

    def columns(self, name: str) -> dict[str, str]:
        """The columns this field fills, named ``name``, and their kinds (see
        :meth:`harvest.fields.FieldKind.columns`)."""
        if self.many:  # every match, as one JSON array column
            return field_kind(MANY_KIND).columns(name)
        return field_kind(self.parser).columns(name, self.parser_options)

    def converted_column(self, name: str) -> str | None:
        """``<name>_<currency>`` when the field asks for ``convert_to``, else ``None``."""
        if self.convert_to is None:
            return None
        return f"{name}_{self.convert_to.lower()}"

    @property
    def selector(self) -> str:
        """The selector as written, for messages: ``css: ...``, ``xpath: ...`` or ``url``."""
        if self.css is not None:
            return f"css: {self.css}"
        if self.xpath is not None:
            return f"xpath: {self.xpath}"
        return "url"

    @property
    def column_kind(self) -> str:
        """The field kind of the field's column: its parser's, or ``json`` for ``many: true``."""
        return MANY_KIND if self.many else self.parser


class LevelSpec(_Model):
    """One level of the crawl graph between the start URLs and the item pages.

    ``links`` selects the ``<a>`` elements leading to the next level (the item pages after the
    last level); ``next_page`` this level's own pagination; ``cards`` the repeated blocks of an
    item on a list page. With ``cards``, ``links`` is looked up inside each card and the fields
    ``from: card`` travel with the link to the item page; a last level with ``cards`` and no
    ``links`` makes each card an item (no detail page).
    """

    name: str
    links: str | None = Field(None, description="CSS selector of the <a> to the next level")
    next_page: str | None = Field(None, description="CSS selector of the <a> to the next page")
    cards: str | None = Field(None, description="CSS selector of the repeated item blocks")

    @model_validator(mode="after")
    def _goes_somewhere(self) -> LevelSpec:
        if self.links is None and self.cards is None:
            raise ValueError(f"level {self.name!r} needs 'links' or 'cards' (or both)")
        return self


class SitemapSpec(_Model):
    """A start from sitemaps (``sitemap.xml``, sitemap indexes, robots.txt): the URLs whose
    address matches one of ``follow`` are item pages (every URL when ``follow`` is empty)."""

    urls: list[str] = Field(description="sitemap URLs; may use {base_url}, {date}, ...")
    follow: list[str] = Field([], description="URL regexes of the item pages to fetch")

    @field_validator("follow")
    @classmethod
    def _valid_regexes(cls, patterns: list[str]) -> list[str]:
        return JavaScriptSpec._valid_regexes(patterns)


class IndexSpec(_Model):
    """Index pages: where the links to detail pages are, and the link to the next page: the
    one-level crawl graph (``levels: [{name: index, links: ..., next_page: ...}]``)."""

    detail_links: str = Field(description="CSS selector of <a> elements leading to detail pages")
    next_page: str | None = Field(
        None, description="CSS selector of the <a> to the next index page"
    )


class DetailSpec(_Model):
    """The item: its fields (from its page, its card or its URL) and which one is the natural
    key."""

    key: str
    fields: dict[str, FieldSpec]

    @model_validator(mode="after")
    def _key_is_a_field(self) -> DetailSpec:
        if not self.fields:
            raise ValueError("at least one field is needed")
        if self.key not in self.fields:
            raise ValueError(
                f"key {self.key!r} is not one of the fields ({', '.join(self.fields)})"
            )
        for name, field_spec in self.fields.items():
            column = field_spec.checks.column
            columns = field_spec.columns(name)
            if column is not None and column not in columns:
                raise ValueError(
                    f"fields.{name}.checks.column {column!r} is not a column of the field "
                    f"(its columns: {', '.join(columns)})"
                )
        if self.fields[self.key].many:
            raise ValueError(f"key {self.key!r} cannot be 'many: true'")
        return self


class JavaScriptSpec(_Model):
    """Which pages need a real browser: a CSS marker in the plain HTML and/or URL regexes."""

    marker: str | None = None
    url_patterns: list[str] = []
    wait_for: str | None = Field(None, description="CSS selector that appears once rendered")
    timeout_seconds: float = 15.0

    @field_validator("url_patterns")
    @classmethod
    def _valid_regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return patterns

    @property
    def enabled(self) -> bool:
        return bool(self.marker or self.url_patterns)


# Query (and ;path) parameters that carry a session id: dropped from every URL before it is
# requested, so a link space that mints a new id per link cannot grow without bound.
SESSION_ID_PARAMETERS = (
    "jsessionid", "phpsessid", "aspsessionid", "cfid", "cftoken", "sessionid", "session_id", "sid",
)  # fmt: skip


class CrawlSpec(_Model):
    """Politeness, reliability and limit knobs of the crawl; the defaults are what a site owner
    would accept (one site: at most 2 requests at a time, at least 1 s apart), and a spec may
    lower them explicitly for a site it owns."""

    obey_robots_txt: bool = True
    concurrency_per_domain: int = Field(2, ge=1, le=64)
    download_delay_seconds: float = Field(1.0, ge=0, description="minimum gap between requests")
    autothrottle: bool = True
    autothrottle_target_concurrency: float = Field(1.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    download_timeout_seconds: float = Field(30.0, gt=0)
    max_pages: int | None = Field(
        10_000, ge=1, description="page budget of one crawl (null: unbounded)"
    )
    max_depth: int | None = Field(
        200, ge=1, description="links followed from a start page (null: unbounded)"
    )
    max_crawl_delay_seconds: float = Field(
        10.0, ge=0, description="cap on a site's robots.txt Crawl-delay and 429 slow-down"
    )
    max_retry_after_seconds: float = Field(
        60.0, ge=0, description="longest Retry-After honoured; a longer one fails the page"
    )
    download_maxsize_bytes: int = Field(
        4 * 1024 * 1024, ge=1, description="a larger page (after decompression) fails"
    )
    download_warnsize_bytes: int = Field(1024 * 1024, ge=1, description="a larger page is logged")
    drop_url_parameters: list[str] = Field(
        list(SESSION_ID_PARAMETERS),
        description="query/path parameters removed from every URL (any case): session ids",
    )
    keep_url_fragments: bool = Field(False, description="keep '#...' (hash-routed sites)")
    browsers: int = Field(2, ge=1, le=8, description="headless Chromium instances in the pool")
    blocked_url_patterns: list[str] = Field(
        [], description="URL regexes of login/blocked pages: a page ending there is failed"
    )
    blocked_selector: str | None = Field(
        None, description="CSS selector found only on login/blocked pages: such a page is failed"
    )
    on_deadline: Literal["fail", "warn"] = Field(
        "fail", description="a crawl stopped at its deadline: fail the task, or warn and go on"
    )

    @field_validator("blocked_url_patterns")
    @classmethod
    def _valid_regexes(cls, patterns: list[str]) -> list[str]:
        return JavaScriptSpec._valid_regexes(patterns)


class ValidationSpec(_Model):
    """Partition-level expectations; breaking one of these fails the validate task."""

    min_rows: int = Field(1, ge=0, description="fewest valid records a partition may have")
    row_count_min_ratio: float = Field(
        0.3,
        ge=0,
        le=1,
        description="rows vs the median of recent partitions, below which the count collapsed",
    )
    recent_partitions: int = Field(7, ge=1, le=90)
    max_quarantine_rate: float = Field(0.25, ge=0, le=1)
    required_null_rate: float = Field(
        0.5, ge=0, le=1, description="max share of records missing a required field (schema drift)"
    )


class DedupSpec(_Model):
    """De-duplication. Records with the same key are one record; records with different keys are
    never merged unless the spec says so: ``content_duplicates: drop`` (identical on every field
    but the key), or ``relistings: true`` (the source re-lists an item under a new key), matched
    by a dedupe model trained on the labelled pairs in ``training_file``."""

    relistings: bool = Field(
        False, description="the source re-lists items under new keys: match near duplicates"
    )
    content_duplicates: Literal["report", "drop"] = Field(
        "report",
        description="records identical on every field but the key: report them (kept) or drop",
    )
    match_fields: list[str] = Field(
        [], description="fields the re-listing matcher compares (default: all but the key)"
    )
    title_field: str | None = Field(
        None, description="a free-text field compared as a string (others: exactly or as numbers)"
    )
    block_on: list[str] = Field(
        [], description="fields candidate pairs must agree on (default: the exactly compared ones)"
    )
    max_missing: int = Field(
        2, ge=0, le=8, description="block fields a candidate pair may lack between them"
    )
    threshold: float = Field(
        0.5, gt=0, lt=1, description="match probability at or above which a pair is a re-listing"
    )
    review_margin: float = Field(
        0.2, ge=0, lt=1, description="pairs scored this close to the threshold are borderline"
    )
    training_file: str | None = Field(
        None,
        description="labelled pairs (dedupe's JSON); a relative path is relative to the spec "
        "file; default <source>.dedup.json beside it",
    )
    history_days: int = Field(30, ge=0, le=3650)

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in ("title_similarity", "numeric_tolerance") if k in data]
            if old:
                raise ValueError(
                    f"dedup.{old[0]} is gone: re-listings are matched by a model trained on "
                    "labelled pairs; set dedup.relistings: true and label pairs with "
                    "`harvest dedup label --source <name>` (README: De-duplication)"
                )
        return data


WARNING_NAMES = ("zero_rows", "all_cached", "empty_field")
"""The named warnings a partition can raise (see :mod:`harvest.loading.warnings`)."""


class WarningsSpec(_Model):
    """How serious each named warning is: ``warning`` (logged and stored with the partition) or
    ``critical`` (the load fails, naming source, date and the warning, and loads nothing)."""

    zero_rows: Literal["warning", "critical"] = "warning"
    all_cached: Literal["warning", "critical"] = "warning"
    empty_field: Literal["warning", "critical"] = "warning"


def _coverage_shares(value: dict[str, float]) -> dict[str, float]:
    for name, share in value.items():
        if not 0 <= share <= 1:
            raise ValueError(f"{name}: coverage {share} is not between 0 and 1")
    return value


MONITOR_NAMES = (
    "item_count",
    "field_coverage",
    "error_count",
    "warning_count",
    "finish_reason",
    "unwanted_http_codes",
    "retry_count",
    "downloader_exceptions",
    "item_count_vs_median",
)
"""The crawl monitors (Spidermon, run in the crawl process; see :mod:`harvest.scraping.health`)."""


class MonitorsSpec(_Model):
    """Scrape health checked inside the crawl when the spider closes (Spidermon monitors).

    Each result (name, passed, message) goes into the crawl stats and the warehouse table
    ``crawl_monitors``; a failed monitor is a named warning in the task log, and fails the scrape
    when it is listed in ``critical``. A threshold set to ``null`` switches that monitor off."""

    enabled: bool = Field(True, description="run the monitors at all")
    min_items: int | None = Field(
        1, ge=0, description="fewest records (item pages + card items) a crawl may yield"
    )
    min_field_coverage: float | None = Field(
        0.01,
        ge=0,
        le=1,
        description="least share of records with a value, for every field (a field found in "
        "no record: a selector that no longer matches)",
    )
    field_coverage: dict[str, float] = Field(
        {}, description="least coverage per field, overriding min_field_coverage"
    )
    max_errors: int | None = Field(0, ge=0, description="most ERROR log lines of the crawl")
    max_warnings: int | None = Field(100, ge=0, description="most WARNING log lines of the crawl")
    expected_finish_reasons: list[str] = Field(
        ["finished"], description="Scrapy finish reasons that pass (closespider_timeout: partial)"
    )
    unwanted_http_codes: dict[int, int] = Field(
        {403: 0, 404: 10, 429: 10, 500: 10, 502: 10, 503: 10, 504: 10},
        description="HTTP status -> most responses with it (retried responses count each time)",
    )
    max_retries: int | None = Field(
        0, ge=0, description="most requests that gave up after crawl.retries (failed pages)"
    )
    max_downloader_exceptions: int | None = Field(
        None, ge=0, description="most network errors (timeouts, refused connections)"
    )
    min_share_of_median: float | None = Field(
        0.5,
        ge=0,
        description="records vs the median scraped count of the source's recent partitions",
    )
    recent_partitions: int = Field(7, ge=1, le=90, description="partitions in that median")
    critical: list[str] = Field(
        [], description="monitors whose failure fails the scrape task (names as in the README)"
    )

    @field_validator("field_coverage")
    @classmethod
    def _coverage_is_a_share(cls, value: dict[str, float]) -> dict[str, float]:
        return _coverage_shares(value)

    @field_validator("critical")
    @classmethod
    def _known_monitors(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in MONITOR_NAMES]
        if unknown:
            raise ValueError(f"{unknown} are not monitors; known: {', '.join(MONITOR_NAMES)}")
        return value


class SlaSpec(_Model):
    """What 'on time' and 'healthy' mean for this source, evaluated by the supervisor DAG
    (``harvest.monitoring.evaluate_source``). A threshold set to ``null`` is not checked."""

    finish_by: dt.time | None = Field(None, description="UTC time of day the run must be done by")
    max_duration_minutes: int = Field(60, ge=1)
    freshness_hours: int = Field(26, ge=1)
    max_consecutive_failures: int = Field(
        2, ge=1, description="this many failed runs in a row (newest first) is a miss"
    )
    min_validation_pass_rate: float | None = Field(
        0.9, ge=0, le=1, description="share of the newest partition's expectations that passed"
    )
    max_quarantine_rate: float | None = Field(
        0.1,
        ge=0,
        le=1,
        description="alert above this share of quarantined records (validation fails the task "
        "above validation.max_quarantine_rate)",
    )
    min_field_coverage: float | None = Field(
        None, ge=0, le=1, description="least share of loaded rows with a value, for every field"
    )
    field_coverage: dict[str, float] = Field(
        {}, description="least coverage per field, overriding min_field_coverage"
    )
    data_warnings: bool = Field(
        True, description="the partition's data warnings (0 rows loaded, ...) count as a miss"
    )
    crawl_monitors: bool = Field(
        True, description="a failed crawl monitor (monitors:) of the newest crawl is a miss"
    )

    @field_validator("field_coverage")
    @classmethod
    def _coverage_is_a_share(cls, value: dict[str, float]) -> dict[str, float]:
        return _coverage_shares(value)


class FeaturesSpec(_Model):
    """Which feature transforms apply to which fields before the model. Every list left out is
    derived from the field kinds (see :func:`harvest.features.feature_columns`): text fields are
    categorical, numeric and bool fields numeric, date fields give date parts; the key, the
    target (and its ``_currency`` column) and ``dedup.title_field`` are never features."""

    categorical: list[str] | None = None
    numeric: list[str] | None = None
    dates: list[str] | None = None
    exclude: list[str] = Field([], description="fields never used as features")
    ratios: list[tuple[str, str]] = Field(
        [], description="(numerator, denominator) pairs added as <num>_div_<den> features"
    )
    fill_from_text: dict[str, str] = Field(
        {},
        description="categorical field -> text field (e.g. district: title): a missing value is "
        "filled with the one category known from training that the text names",
    )
    rare_tolerance: float = Field(
        0.01, ge=0, lt=1, description="categories rarer than this share are grouped as 'Rare'"
    )
    outlier_fold: float | None = Field(
        3.0, gt=0, description="numeric values beyond fold x IQR are capped; null disables"
    )
    baseline_by: list[str] = Field(
        [], description="fields the naive baseline takes the median target per; [] = overall"
    )
    holdout_days: int = Field(
        2, ge=1, le=365, description="most recent dates held out to score the candidates"
    )
    target_outlier_fold: float | None = Field(
        3.0,
        gt=0,
        description="rows whose target lies beyond fold x IQR of the training targets are left "
        "out of training and of the holdout metrics (and counted); null keeps every row",
    )
    noise_floor: float | None = Field(
        None, gt=0, description="the target's irreducible RMSE when known (demo site: 60 EUR)"
    )

    def named_fields(self) -> list[str]:
        """Every field this block names (for the check that they exist)."""
        names = [*(self.categorical or []), *(self.numeric or []), *(self.dates or [])]
        names += [*self.exclude, *self.baseline_by, *(f for pair in self.ratios for f in pair)]
        names += [*self.fill_from_text, *self.fill_from_text.values()]
        return names


class SourceSpec(_Model):
    """Everything Harvest needs to know about one source."""

    name: str
    description: str = ""
    base_url: str
    start_urls: list[str] = []
    sitemap: SitemapSpec | None = None
    index: IndexSpec | None = Field(None, description="the one-level graph; or use 'levels'")
    levels: list[LevelSpec] = []
    detail: DetailSpec
    javascript: JavaScriptSpec = JavaScriptSpec()
    crawl: CrawlSpec = CrawlSpec()
    spider: str | None = Field(None, description="dotted path of a hand-written spider class")
    schedule: str | None = "0 2 * * *"
    start_date: dt.date = dt.date(2026, 1, 1)
    sla: SlaSpec = SlaSpec()
    validation: ValidationSpec = ValidationSpec()
    dedup: DedupSpec = DedupSpec()
    mode: Literal["listings", "catalogue"] = Field(
        "listings",
        description="listings: each record once, re-listings removed; catalogue: the full "
        "current set every run, kept as versions (valid_from / valid_to)",
    )
    tracked_fields: list[str] | None = Field(
        None, description="catalogue: fields whose change opens a new version (default all)"
    )
    warnings: WarningsSpec = WarningsSpec()
    monitors: MonitorsSpec = MonitorsSpec()
    target: str | None = None
    currency_rates: str | None = Field(
        None,
        description="CSV of dated exchange rates (date,from,to,rate) for fields with "
        "convert_to; a relative path is relative to the spec file",
    )
    features: FeaturesSpec = FeaturesSpec()
    owner: str = "harvest"
    tags: list[str] = []
    queue: str | None = Field(
        None,
        description="the Airflow queue of the source's scrape task (with the CeleryExecutor, "
        "only workers that listen to it run the crawl, e.g. those with Chromium); "
        "default: Airflow's [operators] default_queue",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("must be lower-case letters, digits and '_', starting with a letter")
        return value

    @field_validator("queue")
    @classmethod
    def _valid_queue(cls, value: str | None) -> str | None:
        if value is not None and not QUEUE_RE.match(value):
            raise ValueError(
                f"{value!r} is not a queue name: letters, digits, '_', '-' and '.', up to 200"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("start_urls")
    @classmethod
    def _valid_templates(cls, urls: list[str]) -> list[str]:
        for url in urls:
            keys = set(re.findall(r"{(\w+)}", url))
            unknown = keys - TEMPLATE_KEYS
            if unknown:
                raise ValueError(
                    f"{url!r} uses {', '.join(sorted(unknown))}; "
                    f"a start URL may use {', '.join(sorted(TEMPLATE_KEYS))}"
                )
        return urls

    @model_validator(mode="after")
    def _graph_is_whole(self) -> SourceSpec:
        if not self.start_urls and self.sitemap is None:
            raise ValueError("at least one start URL (start_urls) or a sitemap is needed")
        if self.index is not None and self.levels:
            raise ValueError("give 'levels' or the older 'index', not both")
        if self.start_urls and self.index is None and not self.levels:
            raise ValueError("start_urls need 'levels' (or 'index') to reach the item pages")
        if self.sitemap is not None:
            for url in self.sitemap.urls:
                SourceSpec._valid_templates([url])
        names = [level.name for level in self.graph]
        if len(set(names)) != len(names):
            raise ValueError(f"level names must differ: {names}")
        for level in self.graph[:-1]:
            if level.links is None:
                raise ValueError(f"level {level.name!r} is not the last: it needs 'links'")
        card_fields = [n for n, f in self.detail.fields.items() if f.from_ == "card"]
        if card_fields and not any(level.cards for level in self.graph):
            raise ValueError(f"fields {card_fields} are 'from: card' but no level has 'cards'")
        last = self.graph[-1] if self.graph else None
        if last is not None and last.links is None:
            page_fields = [n for n, f in self.detail.fields.items() if f.from_ == "page"]
            if page_fields:
                raise ValueError(
                    f"level {last.name!r} has cards and no links (the cards are the items), so "
                    f"fields {page_fields} need 'from: card' or 'from: url'"
                )
        return self

    @property
    def graph(self) -> list[LevelSpec]:
        """The link levels from the start URLs to the item pages (``index`` is one level)."""
        if self.index is not None:
            return [
                LevelSpec(
                    name="index", links=self.index.detail_links, next_page=self.index.next_page
                )
            ]
        return list(self.levels)

    @model_validator(mode="after")
    def _names_are_fields(self) -> SourceSpec:
        fields = self.detail.fields
        if self.target is not None and self.target not in fields:
            raise ValueError(f"target {self.target!r} is not one of detail.fields")
        for option in ("match_fields", "block_on"):
            unknown = [f for f in getattr(self.dedup, option) if f not in fields]
            if unknown:
                raise ValueError(f"dedup.{option} {unknown} are not in detail.fields")
        if self.dedup.title_field is not None and self.dedup.title_field not in fields:
            raise ValueError(
                f"dedup.title_field {self.dedup.title_field!r} is not in detail.fields"
            )
        converting = [name for name, f in fields.items() if f.convert_to is not None]
        if converting and self.currency_rates is None:
            raise ValueError(
                f"detail.fields {converting} ask for convert_to but the spec names no "
                f"currency_rates file (a CSV of date,from,to,rate)"
            )
        untracked = [f for f in self.tracked_fields or [] if f not in fields]
        if untracked:
            raise ValueError(f"tracked_fields {untracked} are not in detail.fields")
        if self.tracked_fields is not None and self.mode != "catalogue":
            raise ValueError("tracked_fields needs mode: catalogue")
        unknown = sorted({f for f in self.features.named_fields() if f not in fields})
        if unknown:
            raise ValueError(f"features: {unknown} are not in detail.fields")
        uncovered = [f for f in self.sla.field_coverage if f not in fields]
        if uncovered:
            raise ValueError(f"sla.field_coverage {uncovered} are not in detail.fields")
        uncovered = [f for f in self.monitors.field_coverage if f not in fields]
        if uncovered:
            raise ValueError(f"monitors.field_coverage {uncovered} are not in detail.fields")
        return self

    @property
    def versioned_fields(self) -> list[str]:
        """Catalogue: the fields whose change opens a new version (``tracked_fields``, default
        every field but the key)."""
        if self.tracked_fields is not None:
            return list(self.tracked_fields)
        return [f for f in self.detail.fields if f != self.detail.key]

    @property
    def dag_id(self) -> str:
        return f"harvest_{self.name}"

    def resolved_base_url(self, env: dict[str, str] | None = None) -> str:
        """The base URL, overridden by ``HARVEST_SOURCE_<NAME>_BASE_URL`` when that is set."""
        env = dict(os.environ) if env is None else env
        return env.get(f"HARVEST_SOURCE_{self.name.upper()}_BASE_URL", self.base_url).rstrip("/")

    def start_urls_for(
        self,
        logical_date: dt.date,
        data_interval_end: dt.date | None = None,
        base_url: str | None = None,
        *,
        templates: list[str] | None = None,
    ) -> list[str]:
        """Start URLs for one partition, with the data interval filled in (``templates``: other
        URL templates than ``start_urls``, such as the sitemap's)."""
        end = data_interval_end or logical_date + dt.timedelta(days=1)
        values = {
            "base_url": base_url or self.resolved_base_url(),
            "date": logical_date.isoformat(),
            "start": logical_date.isoformat(),
            "end": end.isoformat(),
        }
        urls = self.start_urls if templates is None else templates
        return [url.format(**values) for url in urls]


def _error_field(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"])


def load_spec(path: Path | str) -> SourceSpec:
    """Load and validate one spec file; raise :class:`SpecError` naming file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(path, "", f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(path, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise SpecError(path, "", "a spec must be a YAML mapping of fields")
    data.setdefault("name", path.stem)
    rates = data.get("currency_rates")
    if isinstance(rates, str) and not Path(rates).is_absolute():
        data["currency_rates"] = str(path.parent / rates)
    dedup = data.get("dedup")
    if dedup is None or isinstance(dedup, dict):  # labelled pairs live beside the spec
        pairs = (dedup or {}).get("training_file") or f"{path.stem}.dedup.json"
        if isinstance(pairs, str) and not Path(pairs).is_absolute():
            data["dedup"] = {**(dedup or {}), "training_file": str(path.parent / pairs)}
    if data["name"] != path.stem:
        raise SpecError(path, "name", f"{data['name']!r} must match the file name {path.stem!r}")
    try:
        return SourceSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise SpecError(path, _error_field(first), message) from exc


@dataclass
class SpecSet:
    """The result of loading a folder of specs: the good ones, and an error per bad file."""

    specs: dict[str, SourceSpec] = field(default_factory=dict)
    errors: dict[str, SpecError] = field(default_factory=dict)


def spec_files(sources_dir: Path | str) -> Iterable[Path]:
    return sorted(Path(sources_dir).glob("*.y*ml"))


def load_specs(sources_dir: Path | str) -> SpecSet:
    """Load every ``*.yaml`` in a folder; bad files are reported in ``errors`` by source name."""
    result = SpecSet()
    for path in spec_files(sources_dir):
        try:
            spec = load_spec(path)
        except SpecError as exc:
            result.errors[path.stem] = exc
        else:
            result.specs[spec.name] = spec
    return result
