"""How a listing's values are written on its page: price, area and date formats, titles.

The demo site shows the same value in several formats on purpose (real listing sites do), so
the parsers and the cleaning stage meet the mess they will meet on real sources.
"""

from __future__ import annotations

SQFT_PER_M2 = 1 / 0.09290304  # one international square foot is exactly 0.09290304 m²

PRICE_FORMATS = ("euro_dot", "eur_suffix", "eur_prefix", "space_euro", "on_request")
AREA_FORMATS = ("m²", "m2", "sq ft")
DATE_FORMATS = ("iso", "dotted")

ADJECTIVES = (
    "Bright", "Cosy", "Quiet", "Modern", "Renovated", "Spacious", "Charming", "Sunny", "Central",
    "Stylish", "Light-filled", "Calm",
)  # fmt: skip
TITLE_TEMPLATES = (
    "{adj} {rooms}-room flat in {district}",
    "{adj} {rooms}-room apartment, {district}",
    "{district}: {adj_lower} {rooms}-room home",
    "{adj} apartment in {district}, {area} m²",
)
RELIST_SUFFIXES = ("", " - available now", " (reposted)", " - must see")


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
