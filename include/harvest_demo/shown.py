"""The demo listings as a cleaned partition would hold them: what each page shows, parsed.

For tests and benchmarks of the stages after loading (features, training, scoring) that need
many realistic rows without crawling them: prices and areas as shown (outliers included, "Price
on request" as missing), fields the page leaves out as missing, city typos already corrected
(as cleaning does), re-listings dropped (as de-duplication does). The ``make demo`` path goes
through the real crawl instead.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from harvest_demo.generator import SiteConfig, ground_truth

if TYPE_CHECKING:
    from harvest.config.spec import SourceSpec

SPEC_FIELDS = (
    "listing_id", "title", "price", "area", "rooms", "floor", "city", "district", "balcony",
    "built_year", "available_from",
)  # fmt: skip


def shown_partition(
    config: SiteConfig, day: dt.date, spec: SourceSpec | None = None
) -> pd.DataFrame:
    """One day's listings with the demo spec's fields plus ``url``, ``price_currency``, ``price_eur``,
    ``logical_date``, ``expected_price`` (the truth without noise) and ``true_price`` (with it).

    With ``spec``, rows that validation would quarantine are left out: a required field missing
    or a value outside a field's ``checks.min``/``max`` (e.g. an area shown as 1 m²)."""
    truth = pd.DataFrame(ground_truth(config, day))
    truth = truth[truth["relist_of"].isna()].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "listing_id": truth["listing_id"],
            "title": truth["title"],
            "price": truth["shown_price"].astype("float64"),
            "area": truth["shown_area_m2"].astype("float64"),
            "rooms": truth["rooms"].astype("Int64"),
            "floor": truth["floor"].astype("Int64"),
            "city": truth["city"],
            "district": truth["district"],
            "balcony": truth["balcony"].astype("boolean"),
            "built_year": truth["built_year"].astype("Int64"),
            "available_from": pd.to_datetime(truth["available_from"]).dt.date,
        }
    )
    for i, missing in enumerate(truth["missing"]):
        for name in filter(None, missing.split(";")):
            frame.loc[i, name] = None
    frame["url"] = "http://demo.invalid/listing/" + frame["listing_id"]
    frame["price_currency"] = "EUR"
    frame["price_eur"] = frame["price"]  # the demo states every price in EUR (convert_to: EUR)
    frame["logical_date"] = day
    frame["expected_price"] = truth["expected_price"]
    frame["true_price"] = truth["price"]
    if spec is None:
        return frame
    keep = pd.Series(True, index=frame.index)
    for name, field_spec in spec.detail.fields.items():
        if name not in frame.columns:
            continue
        values = frame[name]
        if field_spec.required:
            keep &= values.notna()
        if field_spec.checks.min is not None:
            keep &= ~(pd.to_numeric(values, errors="coerce") < field_spec.checks.min).fillna(False)
        if field_spec.checks.max is not None:
            keep &= ~(pd.to_numeric(values, errors="coerce") > field_spec.checks.max).fillna(False)
    return frame[keep].reset_index(drop=True)
