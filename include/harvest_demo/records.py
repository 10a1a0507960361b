"""The demo site's listings as typed, cleaned records, with the ground truth of re-listings.

For measuring de-duplication against the truth without a crawl: each listing's fields are the
strings its detail page shows (:func:`harvest_demo.pages.shown_fields`), parsed with the
spec's parsers and normalised as the pipeline does; records with a parse issue are left out, as
validation would quarantine them.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from harvest.cleaning.normalise import normalise_frame
from harvest.config.spec import SourceSpec
from harvest.records import parse_records
from harvest_demo.generator import SiteConfig, listings_for_day
from harvest_demo.pages import shown_fields


def demo_records(
    config: SiteConfig, day: dt.date, spec: SourceSpec
) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """Typed, normalised records of one demo day, and the truth: listing id -> id it re-lists."""
    rows = []
    truth: dict[str, str | None] = {}
    for listing in listings_for_day(config, day):
        url = f"http://demo.test/listing/{listing.listing_id}"
        rows.append(
            {
                "source": spec.name,
                "logical_date": day.isoformat(),
                "url": url,
                **shown_fields(listing),
            }
        )
        truth[listing.listing_id] = listing.relist_of
    parsed = parse_records(pd.DataFrame(rows).astype("string"), spec)
    frame = parsed.frame[~parsed.frame["url"].isin(parsed.bad_urls)].reset_index(drop=True)
    frame = normalise_frame(frame, spec).frame
    frame["record_key"] = frame[spec.detail.key]
    kept = set(frame["record_key"])
    return frame, {k: v for k, v in truth.items() if k in kept}
