"""Deterministic rental listings with a known price function, known noise and recorded mess.

Each day's listings are drawn from ``(seed, date)`` alone: the true attributes, the noisy price,
and how each listing is rendered (layout, JavaScript, price and area formats, missing fields,
typos, outliers, re-listings). Days are generated as numpy arrays (cheap even at 100k listings)
and kept in an LRU cache; :class:`Listing` objects are built only for the indices asked for, so
serving one page never builds a whole day.

The flats and their true prices come from ``market`` (:func:`true_price` plus noise of known
size); the texts they are shown as come from ``formats``.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from harvest_demo.formats import (
    ADJECTIVES,
    AREA_FORMATS,
    DATE_FORMATS,
    PRICE_FORMATS,
    RELIST_SUFFIXES,
    TITLE_TEMPLATES,
    format_area,
    format_price,
)
from harvest_demo.listing import OPTIONAL_FIELDS, OUTLIER_KINDS, Listing, ground_truth_row
from harvest_demo.market import (
    CITIES,
    CITY_RATE,
    CITY_WEIGHT,
    DISTRICT_FACTOR,
    N_DISTRICTS,
    NOISE_SD,
    price_formula,
)

MAX_LISTINGS_PER_DAY = 100_000

_ID_RE = re.compile(r"L-(\d{8})-(\d{4,6})")


@dataclass(frozen=True)
class SiteConfig:
    """What the demo site generates. Fractions are per listing (``missing_fraction`` per field)."""

    seed: int = 42
    listings_per_day: int = 300
    page_size: int = 25
    js_fraction: float = 0.1
    relist_fraction: float = 0.05
    relist_max_days_back: int = 7
    missing_fraction: float = 0.03
    typo_fraction: float = 0.02
    outlier_fraction: float = 0.01
    price_on_request_fraction: float = 0.02
    sqft_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"SiteConfig.seed must be >= 0, got {self.seed}")
        if not 1 <= self.listings_per_day <= MAX_LISTINGS_PER_DAY:
            raise ValueError(
                f"SiteConfig.listings_per_day must be in 1..{MAX_LISTINGS_PER_DAY}, "
                f"got {self.listings_per_day}"
            )
        if self.page_size < 1:
            raise ValueError(f"SiteConfig.page_size must be >= 1, got {self.page_size}")
        if self.relist_max_days_back < 0:
            raise ValueError(
                f"SiteConfig.relist_max_days_back must be >= 0, got {self.relist_max_days_back}"
            )
        for f in fields(self):
            if f.name.endswith("_fraction"):
                value = getattr(self, f.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"SiteConfig.{f.name} must be in [0, 1], got {value}")

    @property
    def pages_per_day(self) -> int:
        return math.ceil(self.listings_per_day / self.page_size)

    @property
    def id_digits(self) -> int:
        return max(4, len(str(self.listings_per_day)))


def listing_id(day: dt.date, number: int, config: SiteConfig) -> str:
    """``L-YYYYMMDD-NNNN``: the day is in the id, so a detail page is servable from it alone."""
    return f"L-{day:%Y%m%d}-{number:0{config.id_digits}d}"


def parse_listing_id(value: str, config: SiteConfig) -> tuple[dt.date, int] | None:
    """(day, 0-based index) of a canonical listing id of this config, else ``None``."""
    match = _ID_RE.fullmatch(value)
    if not match:
        return None
    try:
        day = dt.datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None
    number = int(match.group(2))
    if not 1 <= number <= config.listings_per_day or listing_id(day, number, config) != value:
        return None
    return day, number - 1


def _rng(config: SiteConfig, day: dt.date) -> np.random.Generator:
    return np.random.default_rng([config.seed, day.toordinal()])


@dataclass
class _DayBase:
    """One day's draws before re-listings are resolved (depends on (seed, day) only)."""

    arrays: dict[str, npt.NDArray[Any]]


@functools.lru_cache(maxsize=12)
def _day_base(config: SiteConfig, day: dt.date) -> _DayBase:
    n = config.listings_per_day
    rng = _rng(config, day)
    # Every array is drawn in a fixed order from uniforms, so changing one fraction in the config
    # changes only what it governs.
    city = rng.choice(len(CITIES), size=n, p=CITY_WEIGHT)
    district = np.floor(rng.random(n) * N_DISTRICTS[city]).astype(np.int64)
    rooms = rng.choice(np.arange(1, 6), size=n, p=[0.15, 0.35, 0.30, 0.15, 0.05])
    area = np.clip(np.rint(rooms * 22 + 12 + rng.normal(0, 8, n)), 14, 250).astype(np.int64)
    floor = rng.choice(np.arange(0, 9), size=n, p=[0.14, 0.18, 0.17, 0.15, 0.12, 0.09, 0.07,
                                                     0.05, 0.03])  # fmt: skip
    balcony = rng.random(n) < 0.55
    era = rng.choice(5, size=n, p=[0.15, 0.10, 0.30, 0.30, 0.15])
    era_start = np.array([1890, 1919, 1950, 1976, 2015])[era]
    era_len = np.array([29, 31, 26, 39, 11])[era]
    built_year = era_start + np.floor(rng.random(n) * era_len).astype(np.int64)
    available = day.toordinal() + rng.integers(0, 61, n)
    noise = rng.normal(0.0, NOISE_SD, n)
    layout_b = rng.random(n) < 0.5
    needs_js = rng.random(n) < config.js_fraction
    is_relist = rng.random(n) < config.relist_fraction
    relist_back = rng.integers(0, config.relist_max_days_back + 1, n)
    relist_u = rng.random(n)
    missing = rng.random((n, len(OPTIONAL_FIELDS))) < config.missing_fraction
    typo = rng.random(n) < config.typo_fraction
    typo_variant = rng.integers(0, 1 << 30, n)
    outlier = rng.random(n) < config.outlier_fraction
    outlier_kind = rng.integers(0, len(OUTLIER_KINDS), n)
    on_request = rng.random(n) < config.price_on_request_fraction
    price_format = rng.integers(0, len(PRICE_FORMATS) - 1, n)
    area_u = rng.random(n)
    date_format = rng.integers(0, len(DATE_FORMATS), n)
    adjective = rng.integers(0, len(ADJECTIVES), n)
    template = rng.integers(0, len(TITLE_TEMPLATES), n)
    suffix = rng.integers(1, len(RELIST_SUFFIXES), n)

    # Mess that would hide an outlier is dropped for that listing.
    price_outlier = outlier & (outlier_kind == 0)
    area_outlier = outlier & (outlier_kind == 1)
    price_format = np.where(on_request & ~price_outlier, len(PRICE_FORMATS) - 1, price_format)
    area_format = np.where(
        area_u < config.sqft_fraction, 2, np.where(area_u < (1 + config.sqft_fraction) / 2, 0, 1)
    )
    missing[:, OPTIONAL_FIELDS.index("area")] &= ~area_outlier

    expected = price_formula(
        CITY_RATE[city], DISTRICT_FACTOR[city, district], area, rooms, floor, balcony, built_year
    )
    price = np.rint(expected + noise)
    return _DayBase(
        {
            "city": city,
            "district": district,
            "rooms": rooms,
            "area": area,
            "floor": floor,
            "balcony": balcony,
            "built_year": built_year,
            "available": available,
            "expected": expected,
            "price": price,
            "layout_b": layout_b,
            "needs_js": needs_js,
            "is_relist": is_relist,
            "relist_back": relist_back,
            "relist_u": relist_u,
            "missing": missing,
            "typo": typo,
            "typo_variant": typo_variant,
            "outlier": outlier,
            "outlier_kind": outlier_kind,
            "price_format": price_format,
            "area_format": area_format,
            "date_format": date_format,
            "adjective": adjective,
            "template": template,
            "suffix": suffix,
        }
    )


class DayListings(Sequence[Listing]):
    """The listings of one day, built lazily by index (``len`` is cheap, indexing is O(1))."""

    def __init__(self, config: SiteConfig, day: dt.date) -> None:
        self.config = config
        self.day = day
        self._a = _day_base(config, day).arrays

    def _flat_source(self, i: int) -> tuple[dict[str, npt.NDArray[Any]], int, str | None]:
        """Where listing ``i``'s flat comes from: (arrays, index, id of the original or None).

        A re-listing copies an original (never a re-listing) from earlier the same day or from
        up to ``relist_max_days_back`` days before; resolved per listing, so serving one page
        never resolves a whole day.
        """
        a = self._a
        if not a["is_relist"][i]:
            return a, i, None
        u = float(a["relist_u"][i])
        days_back = int(a["relist_back"][i])
        if days_back == 0:
            originals = _originals(self.config, self.day)
            earlier = int(np.searchsorted(originals, i))
            if earlier:
                j = int(originals[int(u * earlier)])
                return a, j, listing_id(self.day, j + 1, self.config)
            days_back = 1  # nothing earlier today: take one from yesterday
        src_day = self.day - dt.timedelta(days=days_back)
        originals = _originals(self.config, src_day)
        if len(originals) == 0:  # every listing that day is a re-listing: this one is original
            return a, i, None
        j = int(originals[int(u * len(originals))])
        return _day_base(self.config, src_day).arrays, j, listing_id(src_day, j + 1, self.config)

    def __len__(self) -> int:
        return self.config.listings_per_day

    @overload
    def __getitem__(self, index: int) -> Listing: ...

    @overload
    def __getitem__(self, index: slice) -> list[Listing]: ...

    def __getitem__(self, index: int | slice) -> Listing | list[Listing]:
        if isinstance(index, slice):
            return [self._build(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"listing index {index} out of range for {self.day}")
        return self._build(index)

    def __iter__(self) -> Iterator[Listing]:
        return (self._build(i) for i in range(len(self)))

    def page(self, number: int) -> list[Listing]:
        """Listings of index page ``number`` (1-based); empty beyond the last page."""
        size = self.config.page_size
        return self[(number - 1) * size : number * size] if number >= 1 else []

    def _build(self, i: int) -> Listing:
        a = self._a
        f, j, relist_of = self._flat_source(i)
        city = CITIES[int(f["city"][j])]
        district = city.districts[int(f["district"][j])][0]
        rooms = int(f["rooms"][j])
        area = int(f["area"][j])
        adjective = int(a["adjective"][i])
        if relist_of is not None:  # a slightly different title than the original's
            adjective = (int(f["adjective"][j]) + 1 + int(a["suffix"][i])) % len(ADJECTIVES)
        title = TITLE_TEMPLATES[int(f["template"][j])].format(
            adj=ADJECTIVES[adjective],
            adj_lower=ADJECTIVES[adjective].lower(),
            rooms=rooms,
            district=district,
            area=area,
        )
        if relist_of is not None:
            title += RELIST_SUFFIXES[int(a["suffix"][i])]
        available_from = dt.date.fromordinal(int(f["available"][j]))
        outlier = OUTLIER_KINDS[int(a["outlier_kind"][i])] if a["outlier"][i] else None
        price = float(f["price"][j])
        price_format = PRICE_FORMATS[int(a["price_format"][i])]
        area_format = AREA_FORMATS[int(a["area_format"][i])]
        shown_price = price * 10 if outlier == "price_x10" else price
        shown_area = 1 if outlier == "area_1m2" else area
        date_format = DATE_FORMATS[int(a["date_format"][i])]
        city_text = (
            city.typos[int(a["typo_variant"][i]) % len(city.typos)] if a["typo"][i] else city.name
        )
        return Listing(
            listing_id=listing_id(self.day, i + 1, self.config),
            listed_on=self.day,
            title=title,
            city=city.name,
            district=district,
            area_m2=area,
            rooms=rooms,
            floor=int(f["floor"][j]),
            balcony=bool(f["balcony"][j]),
            built_year=int(f["built_year"][j]),
            available_from=available_from,
            expected_price=float(f["expected"][j]),
            price=price,
            layout="b" if a["layout_b"][i] else "a",
            needs_js=bool(a["needs_js"][i]),
            price_format=price_format,
            price_text=format_price(shown_price, price_format),
            area_format=area_format,
            area_text=format_area(shown_area, area_format),
            city_text=city_text,
            available_from_text=(
                available_from.isoformat()
                if date_format == "iso"
                else available_from.strftime("%d.%m.%Y")
            ),
            missing=tuple(
                name for name, gone in zip(OPTIONAL_FIELDS, a["missing"][i], strict=True) if gone
            ),
            relist_of=relist_of,
            outlier=outlier,
        )


@functools.lru_cache(maxsize=16)
def _originals(config: SiteConfig, day: dt.date) -> npt.NDArray[np.intp]:
    """Indices of the listings of ``day`` that are not re-listings (sorted)."""
    return np.flatnonzero(~_day_base(config, day).arrays["is_relist"])


@functools.lru_cache(maxsize=8)
def day_listings(config: SiteConfig, day: dt.date) -> DayListings:
    """The (cached, lazily built) listings of one day."""
    return DayListings(config, day)


def listings_for_day(config: SiteConfig, date: dt.date) -> list[Listing]:
    """All listings first published on ``date``, in index order."""
    return list(day_listings(config, date))


def find_listing(config: SiteConfig, value: str) -> Listing | None:
    """The listing with this id, or ``None`` when no such listing exists."""
    parsed = parse_listing_id(value, config)
    if parsed is None:
        return None
    day, index = parsed
    return day_listings(config, day)[index]


def ground_truth(config: SiteConfig, date: dt.date) -> list[dict[str, Any]]:
    """Per listing of ``date``, its ground truth (:func:`~harvest_demo.listing.ground_truth_row`)."""
    return [ground_truth_row(listing) for listing in listings_for_day(config, date)]
