"""Source specs: one YAML file per source, loaded into validated models.

A spec says where a source lives (start URLs with the data interval in them, or a sitemap), how
to walk it (its crawl graph: link levels with their own pagination, cards, detail pages), what to
extract (field selectors, regexes, maps and their parsers), which pages need JavaScript, when it
runs, its SLA and the target column. A bad spec raises :class:`SpecError` naming the file and the
field; :func:`load_specs` keeps going so that one broken source never stops the others from
loading.

One module per section of a spec file: :mod:`.fields` (``detail:``), :mod:`.crawl` (the crawl
graph and its selectors, checked by :mod:`harvest.config.selectors`, ``javascript:``, ``crawl:``), :mod:`.forms` (``levels[].form``, ``login:``), :mod:`.quality` (``validation:``, ``dedup:``,
``warnings:``), :mod:`.monitoring` (``monitors:``, ``sla:``), :mod:`.features`; :mod:`.source`
holds the whole spec and the checks across sections, :mod:`.files` reads spec files.
"""

from harvest.config.spec.base import NAME_RE, QUEUE_RE, TEMPLATE_KEYS, SpecError
from harvest.config.spec.crawl import (
    SESSION_ID_PARAMETERS,
    CrawlSpec,
    IndexSpec,
    JavaScriptSpec,
    LevelSpec,
    PagesSpec,
    ScrollSpec,
    SitemapSpec,
)
from harvest.config.spec.features import FeaturesSpec
from harvest.config.spec.fields import DetailSpec, FieldChecks, FieldSpec
from harvest.config.spec.files import SpecSet, load_spec, load_specs, spec_files
from harvest.config.spec.forms import FormSpec, LoginSpec
from harvest.config.spec.monitoring import MONITOR_NAMES, MonitorsSpec, SlaSpec
from harvest.config.spec.quality import (
    ALL_WARNING_NAMES,
    WARNING_NAMES,
    DedupSpec,
    ValidationSpec,
    WarningsSpec,
)
from harvest.config.spec.source import SourceSpec

__all__ = [
    "ALL_WARNING_NAMES",
    "MONITOR_NAMES",
    "NAME_RE",
    "QUEUE_RE",
    "SESSION_ID_PARAMETERS",
    "TEMPLATE_KEYS",
    "WARNING_NAMES",
    "CrawlSpec",
    "DedupSpec",
    "DetailSpec",
    "FeaturesSpec",
    "FieldChecks",
    "FieldSpec",
    "FormSpec",
    "IndexSpec",
    "JavaScriptSpec",
    "LevelSpec",
    "LoginSpec",
    "MonitorsSpec",
    "PagesSpec",
    "ScrollSpec",
    "SitemapSpec",
    "SlaSpec",
    "SourceSpec",
    "SpecError",
    "SpecSet",
    "ValidationSpec",
    "WarningsSpec",
    "load_spec",
    "load_specs",
    "spec_files",
]
