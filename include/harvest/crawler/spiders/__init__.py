"""Spiders, and the registry that picks one for a source spec.

The generic spider fits index -> detail sites. A source that needs more names its own class in
``spider:`` (a dotted path); it must subclass :class:`HarvestSpider` and accept the keyword
arguments ``spec``, ``logical_date`` and ``base_url`` (see :mod:`harvest.crawler.spiders.base`).
"""

from __future__ import annotations

import importlib

from harvest.config.spec import SourceSpec
from harvest.crawler.spiders.base import HarvestSpider
from harvest.crawler.spiders.generic import GenericSpider
from harvest.errors import HarvestError

__all__ = ["GenericSpider", "HarvestSpider", "SpiderLoadError", "load_spider_class"]


class SpiderLoadError(HarvestError, ValueError):
    """The ``spider:`` of a source spec does not name a usable spider class."""

    retryable = False


def load_spider_class(spec: SourceSpec) -> type[HarvestSpider]:
    """The spider class for a source: ``spec.spider`` when set, else :class:`GenericSpider`."""
    if not spec.spider:
        return GenericSpider
    module_name, _, class_name = spec.spider.rpartition(".")
    where = f"source {spec.name}: spider {spec.spider!r}"
    if not module_name:
        raise SpiderLoadError(f"{where} is not a dotted path like 'package.module.ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpiderLoadError(f"{where}: cannot import {module_name!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise SpiderLoadError(f"{where}: module {module_name!r} has no {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, HarvestSpider)):
        raise SpiderLoadError(
            f"{where} must be a subclass of harvest.crawler.spiders.HarvestSpider "
            "(constructed with spec=, logical_date=, base_url=)"
        )
    return cls
