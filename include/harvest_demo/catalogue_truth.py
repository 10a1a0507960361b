"""The catalogue's ground truth: what is visible on a day, and what changed between two days.

``python -m harvest_demo truth --site catalogue --date D`` writes :func:`catalogue_truth`
as CSV; tests compare a crawl against it and against :func:`catalogue_changes`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from harvest_demo.catalogue import CatalogueConfig, Product, catalogue_for_day

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
"""Where ``python -m harvest_demo serve`` listens by default."""

CATALOGUE_TRUTH_COLUMNS = (
    "product_id", "url", "category", "title", "price", "price_currency", "price_min",
    "price_max", "price_period", "price_text", "rating", "badge", "tags", "availability",
    "published_on", "city", "appeared_on", "changed_on", "encoding",
)  # fmt: skip

TRACKED_FIELDS = ("price", "price_min", "price_max", "availability")
"""The fields of a product that change while it is visible (everything else is fixed)."""


def truth_row(product: Product, base_url: str = DEFAULT_BASE_URL) -> dict[str, Any]:
    """One product as a ground-truth row: amounts as ``Decimal``, dates as ``date``,
    ``tags`` joined with ``;``, ``None`` for what the product does not have."""
    return {
        "product_id": product.product_id,
        "url": base_url.rstrip("/") + product.path,
        "category": product.category.name,
        "title": product.title,
        "price": product.price,
        "price_currency": product.currency,
        "price_min": product.price_min,
        "price_max": product.price_max,
        "price_period": product.price_period,
        "price_text": product.price_text,
        "rating": product.rating,
        "badge": product.badge,
        "tags": ";".join(product.tags),
        "availability": product.availability,
        "published_on": product.published_on,
        "city": product.city,
        "appeared_on": product.appeared_on,
        "changed_on": product.changed_on,
        "encoding": "iso-8859-1" if product.category.latin1 else "utf-8",
    }


def catalogue_truth(
    config: CatalogueConfig, day: dt.date, base_url: str = DEFAULT_BASE_URL
) -> list[dict[str, Any]]:
    """Every product visible on ``day`` as a :func:`truth_row`, in list order."""
    return [truth_row(p, base_url) for p in catalogue_for_day(config, day)]


@dataclass(frozen=True)
class Change:
    """How one product differs between two days.

    ``kind`` is ``appeared`` (visible on the later day only), ``disappeared`` (on the earlier day
    only) or ``changed`` (on both, with the :data:`TRACKED_FIELDS` in ``fields`` different);
    ``before`` / ``after`` are the product on each day (``None`` where it is not visible).
    """

    product_id: str
    kind: Literal["appeared", "disappeared", "changed"]
    fields: tuple[str, ...]
    before: Product | None
    after: Product | None


def catalogue_changes(config: CatalogueConfig, before: dt.date, after: dt.date) -> list[Change]:
    """The products that appeared, disappeared or changed between two days, by product id.

    A product that left and came back in between, unchanged, is not a change: this compares the
    two days' states, as a warehouse loading only those two days would.
    """
    old = {p.product_id: p for p in catalogue_for_day(config, before)}
    new = {p.product_id: p for p in catalogue_for_day(config, after)}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        if was is None:
            changes.append(Change(key, "appeared", (), None, now))
        elif now is None:
            changes.append(Change(key, "disappeared", (), was, None))
        else:
            fields = tuple(f for f in TRACKED_FIELDS if getattr(was, f) != getattr(now, f))
            if fields:
                changes.append(Change(key, "changed", fields, was, now))
    return changes
