"""A deterministic product catalogue that changes from day to day, with known ground truth.

The second bundled demo source (the first, :mod:`harvest_demo.generator`, publishes new
listings under dated URLs). Here URLs are stable and the same item is re-observed every day, as
on a real shop or job board. The catalogue has ``products`` *slots*; each slot's products come
and go in cycles and their prices move in epochs, all drawn from hashes of ``(seed, slot, ...)``,
so the state on any day D is a function of ``(config, D)`` alone: any date can be served, in any
order, and served again identically.

- A slot's cycle lasts ``lifetime_days`` (drawn per slot); the product is visible for all of it
  but the last ``gap_days``. A new cycle is a new product (a new id), except that with
  probability ``return_fraction`` the same product comes back (same id) after its gap.
- Within a cycle the price changes every ``price_days`` (drawn per slot): epoch k's price is the
  product's base price times a factor in [1.00, 1.20] for even k and [0.75, 0.95] for odd k, so
  every change changes the shown amount (the rounding unit is at most 5% of the base). The stock
  count is re-drawn at each price change.

With the defaults (400 slots, lifetimes of 60 to 240 days, price epochs of 30 to 120 days) about
3 products appear, 3 disappear and 4 change price each day.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from harvest_demo.catalogue_kinds import (
    BADGES,
    BOOK_ADJECTIVES,
    BOOK_NOUNS,
    BOOK_SUFFIXES,
    BRANDS,
    CATEGORIES,
    JOB_CITIES,
    KINDS,
    MONTHS,
    PERIOD_UNIT_CENTS,
    TAGS,
    UNIT_CENTS,
    Category,
    Kind,
    format_price,
    format_range,
)

T = TypeVar("T")

MAX_PRODUCTS = 100_000
RETURN_LOOKBACK = 20  # cycles searched for the first appearance of a returning product


@dataclass(frozen=True)
class CatalogueConfig:
    """What the catalogue generates. Day ranges are inclusive and drawn once per slot."""

    seed: int = 42
    products: int = 400  # slots; about products * (1 - gap/lifetime) are visible on a day
    page_size: int = 12
    lifetime_days: tuple[int, int] = (60, 240)
    gap_days: tuple[int, int] = (2, 14)
    price_days: tuple[int, int] = (30, 120)
    return_fraction: float = 0.2
    out_of_stock_fraction: float = 0.1
    badge_fraction: float = 0.3

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"CatalogueConfig.seed must be >= 0, got {self.seed}")
        if not 1 <= self.products <= MAX_PRODUCTS:
            raise ValueError(
                f"CatalogueConfig.products must be in 1..{MAX_PRODUCTS}, got {self.products}"
            )
        if self.page_size < 1:
            raise ValueError(f"CatalogueConfig.page_size must be >= 1, got {self.page_size}")
        for name in ("lifetime_days", "gap_days", "price_days"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ValueError(
                    f"CatalogueConfig.{name} must be (low, high) with 1 <= low <= high, "
                    f"got {(low, high)}"
                )
        if self.gap_days[1] >= self.lifetime_days[0]:
            raise ValueError(
                f"CatalogueConfig.gap_days {self.gap_days} must end before the shortest "
                f"lifetime {self.lifetime_days[0]} (a product must be visible at some point)"
            )
        for name in ("return_fraction", "out_of_stock_fraction", "badge_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"CatalogueConfig.{name} must be in [0, 1], got {value}")


@dataclass(frozen=True, slots=True)
class Product:
    """One product as the catalogue shows it on one day.

    Amounts are in cents of ``currency``: ``price_cents`` for a single price, ``price_min_cents``
    / ``price_max_cents`` (and ``price_period``) for a pay range, the other ``None``. ``rating``
    and ``badge`` are shown only on the product's card in its category list.
    """

    product_id: str
    slot: int
    category: Category
    title: str
    currency: str
    price_cents: int | None
    price_min_cents: int | None
    price_max_cents: int | None
    price_period: str | None
    price_text: str
    rating: int | None  # 1..5; None for jobs
    badge: str | None
    tags: tuple[str, ...]
    availability: int | None  # items in stock (0: out of stock); None for jobs
    published_on: dt.date  # the day the product first appeared
    city: str | None  # jobs only
    appeared_on: dt.date  # the first day of its current stretch of visibility
    changed_on: dt.date  # the last day its price or stock changed (or it appeared)

    @property
    def path(self) -> str:
        return f"/catalogue/p/{self.product_id}"

    @property
    def price(self) -> Decimal | None:
        return _decimal(self.price_cents)

    @property
    def price_min(self) -> Decimal | None:
        return _decimal(self.price_min_cents)

    @property
    def price_max(self) -> Decimal | None:
        return _decimal(self.price_max_cents)

    @property
    def published_text(self) -> str:
        day = self.published_on
        return f"Published on {day.day} {MONTHS[day.month - 1]} {day.year}"

    @property
    def availability_text(self) -> str | None:
        if self.availability is None:
            return None
        if self.availability == 0:
            return "Out of stock"
        return f"In stock ({self.availability} available)"


def _decimal(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents).scaleb(-2)


def _draw(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) fixed by the seed and the parts."""
    key = "|".join(map(str, (seed, *parts))).encode()
    digest = hashlib.blake2b(key, digest_size=8, person=b"catalogue").digest()
    return int.from_bytes(digest, "big") / 2**64


def _between(u: float, low: int, high: int) -> int:
    return low + int(u * (high - low + 1))


def _pick(options: tuple[T, ...], u: float) -> T:
    return options[int(u * len(options))]


@dataclass(frozen=True)
class _Slot:
    category: Category
    lifetime: int
    gap: int
    offset: int
    price_days: int


@functools.lru_cache(maxsize=4)
def _slots(config: CatalogueConfig) -> tuple[_Slot, ...]:
    weights = [c.weight for c in CATEGORIES]
    bounds = [sum(weights[: k + 1]) / sum(weights) for k in range(len(weights))]
    slots = []
    for i in range(config.products):
        u = _draw(config.seed, "category", i)
        category = CATEGORIES[next(k for k, b in enumerate(bounds) if u < b)]
        lifetime = _between(_draw(config.seed, "lifetime", i), *config.lifetime_days)
        slots.append(
            _Slot(
                category=category,
                lifetime=lifetime,
                gap=_between(_draw(config.seed, "gap", i), *config.gap_days),
                offset=int(_draw(config.seed, "offset", i) * lifetime),
                price_days=_between(_draw(config.seed, "price_days", i), *config.price_days),
            )
        )
    return tuple(slots)


def product_id(config: CatalogueConfig, slot: int, cycle: int) -> str:
    """The 15-digit id of the product a slot shows in a cycle (first digit never 0)."""
    return str(10**14 + int(_draw(config.seed, "id", slot, cycle) * 9 * 10**14))


def _root_cycle(config: CatalogueConfig, slot: int, cycle: int) -> int:
    """The cycle the product of ``cycle`` first appeared in (earlier when it came back)."""
    root = cycle
    while (
        cycle - root < RETURN_LOOKBACK
        and _draw(config.seed, "returns", slot, root) < config.return_fraction
    ):
        root -= 1
    return root


def _title(config: CatalogueConfig, kind: Kind, slot: int, root: int) -> str:
    def u(name: str) -> float:
        return _draw(config.seed, "title", name, slot, root)

    return kind.title.format(
        adj=_pick(BOOK_ADJECTIVES, u("adj")),
        noun=_pick(BOOK_NOUNS, u("noun")),
        suffix=_pick(BOOK_SUFFIXES, u("suffix")),
        brand=_pick(BRANDS, u("brand")),
        model=f"{_pick(('X', 'S', 'Pro '), u('series'))}{_between(u('model'), 2, 9)}00",
        size=_between(u("size"), 2, 40),
    )


@dataclass(frozen=True)
class _Identity:
    """What a product keeps for all its life (a returning product keeps its first one)."""

    product_id: str
    kind: Kind
    title: str
    base: float  # the base price, in currency units
    spread: float  # pay ranges: max / min
    rating: int | None
    badge: str | None
    tags: tuple[str, ...]
    city: str | None
    published_on: dt.date


@functools.lru_cache(maxsize=65_536)
def _identity(config: CatalogueConfig, i: int, cycle: int) -> _Identity:
    """The product slot ``i`` shows in ``cycle`` (drawn once; days only add price and stock)."""
    seed = config.seed
    slot = _slots(config)[i]
    root = _root_cycle(config, i, cycle)
    category = slot.category
    kind = _pick(KINDS[category.slug], _draw(seed, "kind", i, root))
    jobs = category.slug == "jobs"
    vocabulary = TAGS[category.slug]
    tag_u = [_draw(seed, "tag", i, root, k) for k in range(len(vocabulary))]
    n_tags = _between(_draw(seed, "tags", i, root), 1, 4)
    badge = None
    if _draw(seed, "badge?", i, root) < config.badge_fraction:
        badge = _pick(BADGES[category.slug], _draw(seed, "badge", i, root))
    return _Identity(
        product_id=product_id(config, i, root),
        kind=kind,
        title=_title(config, kind, i, root),
        base=kind.low + (kind.high - kind.low) * _draw(seed, "base", i, root),
        spread=1.15 + 0.35 * _draw(seed, "spread", i, root),
        rating=None if jobs else 1 + int(_draw(seed, "rating", i, root) * 5),
        badge=badge,
        # a random subset of the vocabulary, in a random (fixed) order
        tags=tuple(t for _, t in sorted(zip(tag_u, vocabulary, strict=True))[:n_tags]),
        city=_pick(JOB_CITIES, _draw(seed, "city", i, root)) if jobs else None,
        published_on=dt.date.fromordinal(root * slot.lifetime - slot.offset),
    )


def _product(config: CatalogueConfig, i: int, slot: _Slot, ordinal: int) -> Product | None:
    """Slot ``i``'s product on day ``ordinal`` (``date.toordinal()``), or None in its gap."""
    cycle, age = divmod(ordinal + slot.offset, slot.lifetime)
    if age >= slot.lifetime - slot.gap:
        return None
    seed = config.seed
    who = _identity(config, i, cycle)
    kind = who.kind
    epoch = age // slot.price_days
    start = ordinal - age
    # Even epochs are in [1.00, 1.20] x base, odd ones in [0.75, 0.95] x base: never equal.
    factor = (1.0 if epoch % 2 == 0 else 0.75) + 0.2 * _draw(seed, "price", i, cycle, epoch)
    cents = low_cents = high_cents = None
    if kind.period is None:
        unit = UNIT_CENTS[kind.style]
        amount = max(unit, round(who.base * factor * 100 / unit) * unit)
        cents, price_text = amount, format_price(amount, kind.style)
    else:
        unit = PERIOD_UNIT_CENTS[kind.period]
        low = round(who.base * factor * 100 / unit) * unit
        high = round(who.base * factor * who.spread * 100 / unit) * unit
        low_cents, high_cents = low, high
        price_text = format_range(low, high, kind.style, kind.period)
    availability = None
    if who.city is None:  # goods have a stock; jobs do not
        availability = (
            0
            if _draw(seed, "stock", i, cycle, epoch) < config.out_of_stock_fraction
            else _between(_draw(seed, "count", i, cycle, epoch), 1, 40)
        )
    return Product(
        product_id=who.product_id,
        slot=i,
        category=slot.category,
        title=who.title,
        currency=kind.currency,
        price_cents=cents,
        price_min_cents=low_cents,
        price_max_cents=high_cents,
        price_period=kind.period,
        price_text=price_text,
        rating=who.rating,
        badge=who.badge,
        tags=who.tags,
        availability=availability,
        published_on=who.published_on,
        city=who.city,
        appeared_on=dt.date.fromordinal(start),
        changed_on=dt.date.fromordinal(start + epoch * slot.price_days),
    )


@functools.lru_cache(maxsize=16)
def catalogue_for_day(config: CatalogueConfig, day: dt.date) -> tuple[Product, ...]:
    """Every product visible on ``day``, in slot order (the order lists show them in)."""
    ordinal = day.toordinal()
    found = (_product(config, i, slot, ordinal) for i, slot in enumerate(_slots(config)))
    return tuple(p for p in found if p is not None)


@functools.lru_cache(maxsize=16)
def _by_id(config: CatalogueConfig, day: dt.date) -> dict[str, Product]:
    return {p.product_id: p for p in catalogue_for_day(config, day)}


def find_product(config: CatalogueConfig, day: dt.date, value: str) -> Product | None:
    """The product with this id visible on ``day``, or ``None``."""
    return _by_id(config, day).get(value)


def category_products(
    config: CatalogueConfig, day: dt.date, category: Category, city: str | None = None
) -> list[Product]:
    """The products of one category list on ``day`` (jobs: of one city), in list order."""
    return [
        p
        for p in catalogue_for_day(config, day)
        if p.category == category and (city is None or p.city == city)
    ]
