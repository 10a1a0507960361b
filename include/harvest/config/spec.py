"""Source specs: one YAML file per source, loaded into validated models.

A spec says where a source lives (start URLs with the data interval in them), how to walk it
(index pages, pagination, detail links), what to extract (field selectors and their parsers), which
pages need JavaScript, when it runs, its SLA and the target column. A bad spec raises
:class:`SpecError` naming the file and the field; :func:`load_specs` keeps going so that one broken
source never stops the others from loading.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harvest.cleaning.parsers import PARSER_NAMES

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


class FieldSpec(_Model):
    """How to extract one field from a detail page: a CSS or XPath selector and a parser."""

    css: str | None = None
    xpath: str | None = None
    parser: str = "text"
    required: bool = False

    @model_validator(mode="after")
    def _one_selector(self) -> FieldSpec:
        if (self.css is None) == (self.xpath is None):
            raise ValueError("give exactly one of 'css' or 'xpath'")
        return self

    @field_validator("parser")
    @classmethod
    def _known_parser(cls, value: str) -> str:
        if value not in PARSER_NAMES:
            raise ValueError(
                f"unknown parser {value!r}; known parsers: {', '.join(sorted(PARSER_NAMES))}"
            )
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


class CrawlSpec(_Model):
    """Politeness and reliability knobs of the crawl (defaults are polite)."""

    obey_robots_txt: bool = True
    concurrency_per_domain: int = Field(8, ge=1, le=64)
    download_delay_seconds: float = Field(0.0, ge=0)
    autothrottle: bool = True
    autothrottle_target_concurrency: float = Field(8.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    download_timeout_seconds: float = Field(30.0, gt=0)
    max_pages: int | None = Field(None, ge=1)
    browsers: int = Field(2, ge=1, le=8, description="headless Chromium instances in the pool")


class SlaSpec(_Model):
    """What 'on time' means for this source (evaluated by the supervisor DAG)."""

    finish_by: dt.time | None = Field(None, description="UTC time of day the run must be done by")
    max_duration_minutes: int = Field(60, ge=1)
    freshness_hours: int = Field(26, ge=1)


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
    def _target_is_a_field(self) -> SourceSpec:
        if self.target is not None and self.target not in self.detail.fields:
            raise ValueError(f"target {self.target!r} is not one of detail.fields")
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
        data = yaml.safe_load(text)
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
