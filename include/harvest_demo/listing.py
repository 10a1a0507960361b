"""One demo listing: the true flat, its noisy price, how its page shows it, and its ground truth.

A :class:`Listing` is a value; ``generator`` draws them. :func:`ground_truth_row` is the row the
``truth`` command writes for a listing (:data:`GROUND_TRUTH_COLUMNS`), the reference scraped and
cleaned records are measured against.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from harvest_demo.formats import SQFT_PER_M2

OPTIONAL_FIELDS = ("area", "rooms", "floor", "district", "balcony", "built_year", "available_from")
"""Fields a detail page may leave out; listing_id, title, price and city are always there."""

OUTLIER_KINDS = ("price_x10", "area_1m2")


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


GROUND_TRUTH_COLUMNS = (
    "listing_id", "listed_on", "title", "city", "district", "area_m2", "rooms", "floor", "balcony",
    "built_year", "available_from", "expected_price", "price", "relist_of", "is_outlier", "outlier",
    "layout", "needs_js", "price_format", "price_text", "shown_price", "area_format", "area_text",
    "shown_area_m2", "city_text", "city_typo", "available_from_text", "missing",
)  # fmt: skip


def ground_truth_row(listing: Listing) -> dict[str, Any]:
    """The listing's :data:`GROUND_TRUTH_COLUMNS`: true attributes, expected and noisy price, and
    the mess applied.

    ``price`` is the true (noisy) price of the flat; ``shown_price`` / ``shown_area_m2`` are what
    the page says (``None`` for "Price on request"; wrong on purpose for outliers); ``missing``
    lists the fields left out of the page, joined with ``;``.
    """
    row = asdict(listing)
    row["missing"] = ";".join(listing.missing)
    row["is_outlier"] = listing.is_outlier
    row["city_typo"] = listing.city_typo
    row["shown_price"] = listing.shown_price
    row["shown_area_m2"] = round(listing.shown_area_m2, 4)
    return {key: row[key] for key in GROUND_TRUTH_COLUMNS}
