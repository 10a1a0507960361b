"""A whole source spec: its sections, and the checks across them (graph against fields, key,
target, dedup fields, ``convert_to``'s rates file, mode and ``tracked_fields``)."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harvest.config.spec.base import NAME_RE, QUEUE_RE, TEMPLATE_KEYS, _Model
from harvest.config.spec.crawl import CrawlSpec, IndexSpec, JavaScriptSpec, LevelSpec, SitemapSpec
from harvest.config.spec.features import FeaturesSpec
from harvest.config.spec.fields import DetailSpec
from harvest.config.spec.forms import LoginSpec
from harvest.config.spec.monitoring import MonitorsSpec, SlaSpec
from harvest.config.spec.quality import DedupSpec, ValidationSpec, WarningsSpec
from harvest.partitions import Partition


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
    login: LoginSpec | None = Field(None, description="log in before the crawl")
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
        """The link levels from the start URLs to the item pages (``index`` is one level; none:
        the start URLs are the item pages)."""
        if self.index is not None:
            return [
                LevelSpec.model_validate(
                    {
                        "name": "index",
                        "links": self.index.detail_links,
                        "next_page": self.index.next_page,
                    }
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
    def reads_json(self) -> bool:
        """Whether a selector of the spec reads JSON (``jmespath``): JSON pages are then pages."""
        selectors = [
            s
            for level in self.graph
            for s in (level.links, level.cards, level.next_page, level.recurse)
            if s is not None
        ]
        selectors += [
            level.pages.has_next for level in self.graph if level.pages and level.pages.has_next
        ]
        return any(s.jmespath for s in selectors) or any(
            f.jmespath and not (f.css or f.xpath or f.metadata) for f in self.detail.fields.values()
        )

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
        partition: Partition | dt.date,
        base_url: str | None = None,
        *,
        templates: list[str] | None = None,
    ) -> list[str]:
        """Start URLs for one partition, with its day and data interval filled in
        (:meth:`~harvest.partitions.Partition.url_values`; a bare date: that day only);
        ``templates``: other URL templates than ``start_urls``, such as the sitemap's."""
        partition = Partition.of(self.name, partition)
        values = {"base_url": base_url or self.resolved_base_url(), **partition.url_values()}
        urls = self.start_urls if templates is None else templates
        return [url.format(**values) for url in urls]
