"""The bundled demo source: a seeded rental-listings website with known ground truth.

``generator`` makes each day's listings (true attributes, a price that is a known function plus
Gaussian noise, and the mess they are rendered with); ``pages`` renders the HTML the demo source
spec scrapes; ``server`` serves it over HTTP with faults on demand. CLI:
``python -m harvest.demo_site serve|truth``.
"""

from harvest.demo_site.generator import (
    NOISE_SD,
    Listing,
    SiteConfig,
    find_listing,
    ground_truth,
    listings_for_day,
    true_price,
)
from harvest.demo_site.server import DemoSite, Faults, SiteApp

__all__ = [
    "NOISE_SD",
    "DemoSite",
    "Faults",
    "Listing",
    "SiteApp",
    "SiteConfig",
    "find_listing",
    "ground_truth",
    "listings_for_day",
    "true_price",
]
