"""Source specs: one YAML file per source, loaded into validated models.

A spec says where a source lives (start URLs with the data interval in them), how to walk it
(index pages, pagination, detail links), what to extract (field selectors and their parsers), which
pages need JavaScript, when it runs, its SLA and the target column. A bad spec raises
:class:`SpecError` naming the file and the field; :func:`load_specs` keeps going so that one broken
source never stops the others from loading.

Size: one pydantic model per spec section, and the cross-section checks need them all together.
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

from harvest.fields import UnknownFieldKind, field_kind

# libyaml's safe loader when PyYAML has it (8x faster: specs are read at every DAG parse)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
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
    max_null_rate: float | None = Field(None, ge=0, le=1)
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
    """How to extract one field from a detail page (a CSS or XPath selector and a parser), what
    to expect of it, and how to fill it in when it is missing."""

    css: str | None = None
    xpath: str | None = None
    parser: str = "text"
    required: bool = False
    checks: FieldChecks = FieldChecks()
    impute: Literal["none", "median", "mode", "constant"] = "none"
    impute_value: str | float | int | bool | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> FieldSpec:
        if (self.css is None) == (self.xpath is None):
            raise ValueError("give exactly one of 'css' or 'xpath'")
        return self

    @model_validator(mode="after")
    def _constant_has_value(self) -> FieldSpec:
        if self.impute == "constant" and self.impute_value is None:
            raise ValueError("impute: constant needs impute_value")
        if self.required and self.impute != "none":
            raise ValueError("a required field cannot be imputed")
        return self

    @field_validator("parser")
    @classmethod
    def _known_parser(cls, value: str) -> str:
        try:
            field_kind(value)
        except UnknownFieldKind as exc:
            raise ValueError(str(exc)) from None
        return value


class IndexSpec(_Model):
    """Index pages: where the links to detail pages are, and the link to the next page."""

    detail_links: str = Field(description="CSS selector of <a> elements leading to detail pages")
    next_page: str | None = Field(
        None, description="CSS selector of the <a> to the next index page"
    )


class DetailSpec(_Model):
    """Detail pages: the fields to extract and which of them is the natural key."""

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
    """How re-listings are recognised: same values on ``match_fields`` (after normalisation)
    and titles at least ``title_similarity`` alike, within the batch and against history."""

    match_fields: list[str] = []
    title_field: str | None = None
    title_similarity: float = Field(0.8, ge=0, le=1)
    numeric_tolerance: float = Field(0.02, ge=0, le=1, description="relative, for numbers")
    history_days: int = Field(30, ge=0, le=3650)


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

    @field_validator("field_coverage")
    @classmethod
    def _coverage_is_a_share(cls, value: dict[str, float]) -> dict[str, float]:
        for name, share in value.items():
            if not 0 <= share <= 1:
                raise ValueError(f"{name}: coverage {share} is not between 0 and 1")
        return value


class SourceSpec(_Model):
    """Everything Harvest needs to know about one source."""

    name: str
    description: str = ""
    base_url: str
    start_urls: list[str]
    index: IndexSpec
    detail: DetailSpec
    javascript: JavaScriptSpec = JavaScriptSpec()
    crawl: CrawlSpec = CrawlSpec()
    spider: str | None = Field(None, description="dotted path of a hand-written spider class")
    schedule: str | None = "0 2 * * *"
    start_date: dt.date = dt.date(2026, 1, 1)
    sla: SlaSpec = SlaSpec()
    validation: ValidationSpec = ValidationSpec()
    dedup: DedupSpec = DedupSpec()
    target: str | None = None
    owner: str = "harvest"
    tags: list[str] = []

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("must be lower-case letters, digits and '_', starting with a letter")
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
        if not urls:
            raise ValueError("at least one start URL is needed")
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
    def _names_are_fields(self) -> SourceSpec:
        fields = self.detail.fields
        if self.target is not None and self.target not in fields:
            raise ValueError(f"target {self.target!r} is not one of detail.fields")
        unknown = [f for f in self.dedup.match_fields if f not in fields]
        if unknown:
            raise ValueError(f"dedup.match_fields {unknown} are not in detail.fields")
        if self.dedup.title_field is not None and self.dedup.title_field not in fields:
            raise ValueError(
                f"dedup.title_field {self.dedup.title_field!r} is not in detail.fields"
            )
        unknown = [f for f in self.sla.field_coverage if f not in fields]
        if unknown:
            raise ValueError(f"sla.field_coverage {unknown} are not in detail.fields")
        return self

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
    ) -> list[str]:
        """Start URLs for one partition, with the data interval filled in."""
        end = data_interval_end or logical_date + dt.timedelta(days=1)
        values = {
            "base_url": base_url or self.resolved_base_url(),
            "date": logical_date.isoformat(),
            "start": logical_date.isoformat(),
            "end": end.isoformat(),
        }
        return [url.format(**values) for url in self.start_urls]


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
