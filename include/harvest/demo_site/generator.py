"""Deterministic rental listings with a known price function, known noise and recorded mess.

Each day's listings are drawn from ``(seed, date)`` alone: the true attributes, the noisy price,
and how each listing is rendered (layout, JavaScript, price and area formats, missing fields,
typos, outliers, re-listings). Days are generated as numpy arrays (cheap even at 100k listings)
and kept in an LRU cache; :class:`Listing` objects are built only for the indices asked for, so
serving one page never builds a whole day.

The price of a flat is :func:`true_price` of its attributes plus Gaussian noise with standard
deviation :data:`NOISE_SD`, rounded to whole euros: the noise floor of any model is known.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, overload

import numpy as np
import numpy.typing as npt

NOISE_SD = 60.0
"""Standard deviation (EUR) of the Gaussian noise added to :func:`true_price`."""

MAX_LISTINGS_PER_DAY = 100_000
SQFT_PER_M2 = 1 / 0.09290304  # one international square foot is exactly 0.09290304 m²

OPTIONAL_FIELDS = ("area", "rooms", "floor", "district", "balcony", "built_year", "available_from")
"""Fields a detail page may leave out; listing_id, title, price and city are always there."""

PRICE_FORMATS = ("euro_dot", "eur_suffix", "eur_prefix", "space_euro", "on_request")
AREA_FORMATS = ("m²", "m2", "sq ft")
DATE_FORMATS = ("iso", "dotted")
OUTLIER_KINDS = ("price_x10", "area_1m2")


@dataclass(frozen=True)
class _City:
    name: str
    rate: float  # EUR per m² per month
    weight: float
    districts: tuple[tuple[str, float], ...]  # (name, price factor)
    typos: tuple[str, ...]


CITIES: tuple[_City, ...] = (
    _City(
        "Berlin",
        15.0,
        0.30,
        (
            ("Mitte", 1.20),
            ("Kreuzberg", 1.12),
            ("Prenzlauer Berg", 1.15),
            ("Neukölln", 0.95),
            ("Spandau", 0.82),
        ),
        ("Berln", "Berlinn", "Belrin"),
    ),
    _City(
        "München",
        21.0,
        0.18,
        (("Altstadt", 1.25), ("Schwabing", 1.18), ("Sendling", 1.0), ("Pasing", 0.9)),
        ("Munchen", "Müchen", "Münchn"),
    ),
    _City(
        "Hamburg",
        16.0,
        0.18,
        (("Eppendorf", 1.18), ("Altona", 1.08), ("Wandsbek", 0.92), ("Harburg", 0.8)),
        ("Hamburgg", "Hambrug", "Hamurg"),
    ),
    _City(
        "Köln",
        13.5,
        0.12,
        (("Innenstadt", 1.15), ("Ehrenfeld", 1.05), ("Kalk", 0.88), ("Porz", 0.85)),
        ("Koln", "Kölln", "Kön"),
    ),
    _City(
        "Frankfurt",
        17.5,
        0.12,
        (("Westend", 1.25), ("Sachsenhausen", 1.1), ("Bockenheim", 1.02), ("Höchst", 0.85)),
        ("Frankfrut", "Frankfurtt", "Frankfur"),
    ),
    _City(
        "Leipzig",
        9.5,
        0.10,
        (("Zentrum", 1.15), ("Plagwitz", 1.05), ("Gohlis", 1.0), ("Grünau", 0.8)),
        ("Leipzg", "Liepzig", "Leipzigg"),
    ),
)
_CITY_INDEX = {c.name: i for i, c in enumerate(CITIES)}
_MAX_DISTRICTS = max(len(c.districts) for c in CITIES)
_CITY_RATE = np.array([c.rate for c in CITIES])
_CITY_WEIGHT = np.array([c.weight for c in CITIES]) / sum(c.weight for c in CITIES)
_DISTRICT_FACTOR = np.array(
    [[f for _, f in c.districts] + [1.0] * (_MAX_DISTRICTS - len(c.districts)) for c in CITIES]
)
_N_DISTRICTS = np.array([len(c.districts) for c in CITIES])

_ADJECTIVES = (
    "Bright", "Cosy", "Quiet", "Modern", "Renovated", "Spacious", "Charming", "Sunny", "Central",
    "Stylish", "Light-filled", "Calm",
)  # fmt: skip
_TITLE_TEMPLATES = (
    "{adj} {rooms}-room flat in {district}",
    "{adj} {rooms}-room apartment, {district}",
    "{district}: {adj_lower} {rooms}-room home",
    "{adj} apartment in {district}, {area} m²",
)
_RELIST_SUFFIXES = ("", " - available now", " (reposted)", " - must see")
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


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing: the true flat, its noisy price, and how the site renders it."""

    listing_id: str
    listed_on: dt.date
    title: str
    city: str
    district: str
    area_m2: int
    rooms: int
    floor: int
    balcony: bool
    built_year: int
    available_from: dt.date
    expected_price: float  # true_price(attributes), EUR per month
    price: float  # expected_price + noise, rounded to whole euros: the true price of the flat
    # how it is rendered
    layout: str  # "a" | "b"
    needs_js: bool
    price_format: str  # one of PRICE_FORMATS
    price_text: str
    area_format: str  # one of AREA_FORMATS
    area_text: str
    city_text: str  # the city as shown (a typo when city_typo)
    available_from_text: str
    missing: tuple[str, ...]  # OPTIONAL_FIELDS left out of the detail page
    relist_of: str | None  # id of the original listing when this is a re-listing
    outlier: str | None  # one of OUTLIER_KINDS: the shown price or area is wrong on purpose

    @property
    def is_outlier(self) -> bool:
        return self.outlier is not None

    @property
    def city_typo(self) -> bool:
        return self.city_text != self.city

    @property
    def shown_price(self) -> float | None:
        """The price the page states (``None`` for "Price on request")."""
        if self.price_format == "on_request":
            return None
        return self.price * 10 if self.outlier == "price_x10" else self.price

    @property
    def shown_area_m2(self) -> float:
        """The area the page states, in m² (sq ft texts are rounded to whole square feet)."""
        if self.area_format == "sq ft":
            return round(_shown_area(self) * SQFT_PER_M2) / SQFT_PER_M2
        return float(_shown_area(self))

    def attributes(self) -> dict[str, Any]:
        """The true attributes :func:`true_price` is a function of."""
        return {
            "city": self.city,
            "district": self.district,
            "area_m2": self.area_m2,
            "rooms": self.rooms,
            "floor": self.floor,
            "balcony": self.balcony,
            "built_year": self.built_year,
        }


def _shown_area(listing: Listing) -> int:
    return 1 if listing.outlier == "area_1m2" else listing.area_m2


def _price_formula(
    rate: Any, district_factor: Any, area: Any, rooms: Any, floor: Any, balcony: Any, year: Any
) -> Any:
    """The price function on scalars or numpy arrays (one definition for both)."""
    area = np.asarray(area, dtype=float)
    floor = np.asarray(floor, dtype=float)
    year = np.asarray(year, dtype=float)
    base = 150.0 + area * rate * district_factor
    rooms_term = 35.0 * np.asarray(rooms, dtype=float)
    floor_term = 12.0 * np.minimum(floor, 6.0) - np.where(floor == 0, 25.0, 0.0)
    balcony_term = 70.0 * np.asarray(balcony, dtype=float)
    age_term = np.select(
        [year >= 2015, (year >= 1950) & (year < 1976), year < 1919],
        [120.0, -60.0, 40.0],
        default=0.0,
    )
    return base + rooms_term + floor_term + balcony_term + age_term


def true_price(attrs: Mapping[str, Any]) -> float:
    """Expected monthly rent in EUR (no noise) of a flat with these true attributes.

    Needs ``city``, ``district``, ``area_m2``, ``rooms``, ``floor``, ``balcony``, ``built_year``.
    """
    try:
        city = CITIES[_CITY_INDEX[attrs["city"]]]
    except KeyError as exc:
        raise ValueError(f"true_price: unknown city {attrs.get('city')!r}") from exc
    factor = dict(city.districts).get(attrs["district"])
    if factor is None:
        raise ValueError(f"true_price: unknown district {attrs['district']!r} in {city.name}")
    value = _price_formula(
        city.rate,
        factor,
        attrs["area_m2"],
        attrs["rooms"],
        attrs["floor"],
        bool(attrs["balcony"]),
        attrs["built_year"],
    )
    return float(value)


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
    city = rng.choice(len(CITIES), size=n, p=_CITY_WEIGHT)
    district = np.floor(rng.random(n) * _N_DISTRICTS[city]).astype(np.int64)
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
    adjective = rng.integers(0, len(_ADJECTIVES), n)
    template = rng.integers(0, len(_TITLE_TEMPLATES), n)
    suffix = rng.integers(1, len(_RELIST_SUFFIXES), n)

    # Mess that would hide an outlier is dropped for that listing.
    price_outlier = outlier & (outlier_kind == 0)
    area_outlier = outlier & (outlier_kind == 1)
    price_format = np.where(on_request & ~price_outlier, len(PRICE_FORMATS) - 1, price_format)
    area_format = np.where(
        area_u < config.sqft_fraction, 2, np.where(area_u < (1 + config.sqft_fraction) / 2, 0, 1)
    )
    missing[:, OPTIONAL_FIELDS.index("area")] &= ~area_outlier

    expected = _price_formula(
        _CITY_RATE[city], _DISTRICT_FACTOR[city, district], area, rooms, floor, balcony, built_year
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
            adjective = (int(f["adjective"][j]) + 1 + int(a["suffix"][i])) % len(_ADJECTIVES)
        title = _TITLE_TEMPLATES[int(f["template"][j])].format(
            adj=_ADJECTIVES[adjective],
            adj_lower=_ADJECTIVES[adjective].lower(),
            rooms=rooms,
            district=district,
            area=area,
        )
        if relist_of is not None:
            title += _RELIST_SUFFIXES[int(a["suffix"][i])]
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


def format_price(amount: float, fmt: str) -> str:
    """A whole-euro amount in one of :data:`PRICE_FORMATS`."""
    value = round(amount)
    if fmt == "euro_dot":
        return f"€{value:,} / month".replace(",", ".")
    if fmt == "eur_suffix":
        return f"{value} EUR"
    if fmt == "eur_prefix":
        return f"EUR {value:,}.00"
    if fmt == "space_euro":
        return f"{value:,} €".replace(",", " ")
    if fmt == "on_request":
        return "Price on request"
    raise ValueError(f"unknown price format {fmt!r}; expected one of {PRICE_FORMATS}")


def format_area(area_m2: int, fmt: str) -> str:
    """An area in one of :data:`AREA_FORMATS` (square feet rounded to whole feet)."""
    if fmt == "m²":
        return f"{area_m2} m²"
    if fmt == "m2":
        return f"{area_m2} m2"
    if fmt == "sq ft":
        return f"{round(area_m2 * SQFT_PER_M2)} sq ft"
    raise ValueError(f"unknown area format {fmt!r}; expected one of {AREA_FORMATS}")


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


GROUND_TRUTH_COLUMNS = (
    "listing_id", "listed_on", "title", "city", "district", "area_m2", "rooms", "floor", "balcony",
    "built_year", "available_from", "expected_price", "price", "relist_of", "is_outlier", "outlier",
    "layout", "needs_js", "price_format", "price_text", "shown_price", "area_format", "area_text",
    "shown_area_m2", "city_text", "city_typo", "available_from_text", "missing",
)  # fmt: skip


def ground_truth(config: SiteConfig, date: dt.date) -> list[dict[str, Any]]:
    """Per listing of ``date``: true attributes, expected and noisy price, and the mess applied.

    ``price`` is the true (noisy) price of the flat; ``shown_price`` / ``shown_area_m2`` are what
    the page says (``None`` for "Price on request"; wrong on purpose for outliers); ``missing``
    lists the fields left out of the page, joined with ``;``.
    """
    rows = []
    for listing in listings_for_day(config, date):
        row = asdict(listing)
        row["missing"] = ";".join(listing.missing)
        row["is_outlier"] = listing.is_outlier
        row["city_typo"] = listing.city_typo
        row["shown_price"] = listing.shown_price
        row["shown_area_m2"] = round(listing.shown_area_m2, 4)
        rows.append({key: row[key] for key in GROUND_TRUTH_COLUMNS})
    return rows
