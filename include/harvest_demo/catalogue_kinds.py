"""What the catalogue's products look like: categories, kinds, words, and how prices are written.

Tables and pure formatting only; :mod:`harvest_demo.catalogue` draws products from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Category:
    """A top-level category; ``latin1`` pages are served in ISO-8859-1."""

    slug: str
    name: str
    weight: float
    latin1: bool = False


CATEGORIES: tuple[Category, ...] = (
    Category("books", "Books", 0.35),
    Category("electronics", "Electronics", 0.25),
    Category("garden", "Home & Garden", 0.20),
    Category("jobs", "Jobs", 0.20, latin1=True),
)
CATEGORY_BY_SLUG = {c.slug: c for c in CATEGORIES}
JOB_CITIES = ("München", "Köln", "Düsseldorf", "Berlin", "Hamburg")
"""Job lists are split by city: ``/catalogue/category/jobs/?stadt=München`` (in latin-1)."""


@dataclass(frozen=True)
class Kind:
    """A kind of product: its title pattern and how its price is drawn and shown."""

    title: str
    currency: str
    style: str  # how the price is written: see format_price
    low: float  # base price range, in currency units
    high: float
    period: str | None = None  # "year" | "month" | "hour" for pay ranges


BOOK_ADJECTIVES = (
    "Silent", "Hidden", "Last", "Golden", "Crimson", "Quiet", "Broken", "Wandering", "Naïve",
    "Forgotten",
)  # fmt: skip
BOOK_NOUNS = (
    "Garden", "River", "Kingdom", "Café", "Lighthouse", "Orchard", "Mountain", "Émigré",
    "Crossroads", "Archive",
)  # fmt: skip
BOOK_SUFFIXES = ("", ": A Novel", " \u2013 Volume 2", " (Collected Stories)")
BRANDS = ("Voltra", "Nordlys", "Acme", "Kestrel")

KINDS: dict[str, tuple[Kind, ...]] = {
    "books": (
        Kind("The {adj} {noun}{suffix}", "GBP", "gbp", 5, 60),
        Kind("{noun} of the {adj}{suffix}", "GBP", "gbp", 8, 80),
    ),
    "electronics": (
        Kind("{brand} Wireless Headphones {model}", "USD", "usd", 40, 400),
        Kind("{brand} Bluetooth Speaker {model}", "USD", "usd", 25, 300),
        Kind("{brand} Smartwatch {model}", "USD", "usd", 80, 700),
        Kind('{brand} Laptop 14" {model}', "USD", "usd_k", 2000, 4500),
        Kind("{brand} Mirrorless Camera {model}", "USD", "usd_k", 2000, 6000),
    ),
    "garden": (
        Kind("Gartenschlauch {size} m", "EUR", "eur_de", 15, 80),
        Kind("Teak-Gartenbank {size}0 cm", "EUR", "eur_de", 300, 1500),
        Kind("Akku-Rasenmäher {size} V", "EUR", "eur_de", 150, 2500),
        Kind("Gewächshaus {size} m²", "EUR", "eur_de", 400, 3000),
    ),
    "jobs": (
        Kind("Senior Python Developer", "USD", "usd_range", 90_000, 150_000, "year"),
        Kind("Data Engineer (m/w/d)", "USD", "usd_range", 60_000, 110_000, "year"),
        Kind("Pflegefachkraft (m/w/d)", "EUR", "eur_range", 3000, 4500, "month"),
        Kind("Bäcker (m/w/d)", "EUR", "eur_range", 2200, 3200, "month"),
        Kind("Übersetzer Deutsch\u2013Englisch", "GBP", "gbp_range", 18, 40, "hour"),
        Kind("Lagerist (m/w/d)", "EUR", "eur_range", 13, 18, "hour"),
    ),
}
# The rounding unit of each price style, in cents: at most 5% of the lowest base price.
UNIT_CENTS = {"gbp": 1, "usd": 1, "usd_k": 10_000, "eur_de": 1}
PERIOD_UNIT_CENTS = {"year": 100_000, "month": 10_000, "hour": 50}
TAGS = {
    "books": ("fiction", "classics", "poetry", "travel", "history", "mystery", "romance"),
    "electronics": ("audio", "wearables", "computers", "photo", "wireless", "refurbished"),
    "garden": ("outdoor", "furniture", "tools", "watering", "plants", "akku"),
    "jobs": ("Python", "SQL", "Teilzeit", "Vollzeit", "Schichtdienst", "remote"),
}
BADGES = {
    "books": ("Bestseller", "Staff pick", "Sale"),
    "electronics": ("Sale", "New model", "Refurbished"),
    "garden": ("Sale", "Bestseller"),
    "jobs": ("Remote", "Urgent"),
}
RATING_WORDS = ("One", "Two", "Three", "Four", "Five")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def _grouped(cents: int, thousands: str, decimal: str, decimals: bool = True) -> str:
    whole = f"{cents // 100:,}".replace(",", thousands)
    return f"{whole}{decimal}{cents % 100:02d}" if decimals else whole


def format_price(cents: int, style: str) -> str:
    """One amount (in cents) as the catalogue writes it in ``style``: ``£51.77``, ``$849.99``,
    ``$1.2k``, ``1.299,00 €``."""
    if style == "gbp":
        return f"£{_grouped(cents, ',', '.')}"
    if style == "usd":
        return f"${_grouped(cents, ',', '.')}"
    if style == "usd_k":
        return f"${Decimal(cents).scaleb(-5).normalize():f}k"
    if style == "eur_de":
        return f"{_grouped(cents, '.', ',')} €"
    raise ValueError(f"unknown price style {style!r}")


def format_range(low: int, high: int, style: str, period: str) -> str:
    """A pay range (cents): ``$50,000 - $70,000 a year``, ``3.500 € - 4.200 € a month``,
    ``£18.50 - £22.00 an hour``."""
    per = "an hour" if period == "hour" else f"a {period}"
    if style == "usd_range":
        return f"${_grouped(low, ',', '.', False)} - ${_grouped(high, ',', '.', False)} {per}"
    if style == "eur_range":
        decimals = period == "hour"
        text = f"{_grouped(low, '.', ',', decimals)} € - {_grouped(high, '.', ',', decimals)} €"
        return f"{text} {per}"
    if style == "gbp_range":
        return f"£{_grouped(low, ',', '.')} - £{_grouped(high, ',', '.')} {per}"
    raise ValueError(f"unknown price range style {style!r}")
