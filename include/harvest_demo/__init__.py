"""The bundled demo source: a seeded rental-listings website with known ground truth.

``market`` holds the cities and the true price of a flat (a known function plus Gaussian noise of
known size); ``generator`` draws each day's :class:`Listing` values (``listing``) and the mess
they are shown with (``formats``); ``pages`` renders the HTML the demo source spec scrapes;
``server`` serves it over HTTP with ``faults`` on demand. ``catalogue`` is the second source on
the same server, under ``/catalogue/``: a product catalogue with stable URLs whose products
change from day to day (``catalogue_pages`` renders it, ``catalogue_truth`` gives its ground
truth). CLI: ``python -m harvest_demo serve|truth``.
"""

from harvest_demo.catalogue import (
    CatalogueConfig,
    Product,
    catalogue_for_day,
    find_product,
)
from harvest_demo.catalogue_truth import Change, catalogue_changes, catalogue_truth
from harvest_demo.faults import Faults
from harvest_demo.generator import SiteConfig, find_listing, ground_truth, listings_for_day
from harvest_demo.listing import Listing
from harvest_demo.market import NOISE_SD, true_price
from harvest_demo.server import DemoSite, SiteApp

__all__ = [
    "NOISE_SD",
    "CatalogueConfig",
    "Change",
    "DemoSite",
    "Faults",
    "Listing",
    "Product",
    "SiteApp",
    "SiteConfig",
    "catalogue_changes",
    "catalogue_for_day",
    "catalogue_truth",
    "find_listing",
    "find_product",
    "ground_truth",
    "listings_for_day",
    "true_price",
]
