"""The demo market: cities, districts, the true rent of a flat, and the noise on it.

The price of a flat is :func:`true_price` of its attributes plus Gaussian noise with standard
deviation :data:`NOISE_SD`, rounded to whole euros: the noise floor of any model is known.
``generator`` draws each day's flats from this market; nothing here depends on a day or a seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

NOISE_SD = 60.0
"""Standard deviation (EUR) of the Gaussian noise added to :func:`true_price`."""


@dataclass(frozen=True)
class City:
    """A city of the market: rent per m², share of the listings, districts, typos of its name."""

    name: str
    rate: float  # EUR per m² per month
    weight: float
    districts: tuple[tuple[str, float], ...]  # (name, price factor)
    typos: tuple[str, ...]


CITIES: tuple[City, ...] = (
    City(
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
    City(
        "München",
        21.0,
        0.18,
        (("Altstadt", 1.25), ("Schwabing", 1.18), ("Sendling", 1.0), ("Pasing", 0.9)),
        ("Munchen", "Müchen", "Münchn"),
    ),
    City(
        "Hamburg",
        16.0,
        0.18,
        (("Eppendorf", 1.18), ("Altona", 1.08), ("Wandsbek", 0.92), ("Harburg", 0.8)),
        ("Hamburgg", "Hambrug", "Hamurg"),
    ),
    City(
        "Köln",
        13.5,
        0.12,
        (("Innenstadt", 1.15), ("Ehrenfeld", 1.05), ("Kalk", 0.88), ("Porz", 0.85)),
        ("Koln", "Kölln", "Kön"),
    ),
    City(
        "Frankfurt",
        17.5,
        0.12,
        (("Westend", 1.25), ("Sachsenhausen", 1.1), ("Bockenheim", 1.02), ("Höchst", 0.85)),
        ("Frankfrut", "Frankfurtt", "Frankfur"),
    ),
    City(
        "Leipzig",
        9.5,
        0.10,
        (("Zentrum", 1.15), ("Plagwitz", 1.05), ("Gohlis", 1.0), ("Grünau", 0.8)),
        ("Leipzg", "Liepzig", "Leipzigg"),
    ),
)
CITY_INDEX = {c.name: i for i, c in enumerate(CITIES)}
MAX_DISTRICTS = max(len(c.districts) for c in CITIES)
CITY_RATE = np.array([c.rate for c in CITIES])
CITY_WEIGHT = np.array([c.weight for c in CITIES]) / sum(c.weight for c in CITIES)
DISTRICT_FACTOR = np.array(
    [[f for _, f in c.districts] + [1.0] * (MAX_DISTRICTS - len(c.districts)) for c in CITIES]
)
N_DISTRICTS = np.array([len(c.districts) for c in CITIES])


def price_formula(
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
        city = CITIES[CITY_INDEX[attrs["city"]]]
    except KeyError as exc:
        raise ValueError(f"true_price: unknown city {attrs.get('city')!r}") from exc
    factor = dict(city.districts).get(attrs["district"])
    if factor is None:
        raise ValueError(f"true_price: unknown district {attrs['district']!r} in {city.name}")
    value = price_formula(
        city.rate,
        factor,
        attrs["area_m2"],
        attrs["rooms"],
        attrs["floor"],
        bool(attrs["balcony"]),
        attrs["built_year"],
    )
    return float(value)
