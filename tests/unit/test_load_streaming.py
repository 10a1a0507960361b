"""The load of a partition read in parts (the Dask path): its warnings read no more parts than
they need."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from harvest.config.settings import PACKAGE_DIR
from harvest.config.spec import load_spec
from harvest.loading.warnings import frame_facts
from harvest.storage.staging import FrameParts

SPEC = load_spec(PACKAGE_DIR / "sources" / "demo.yaml")


def parts_of(frames: list[pd.DataFrame], read: list[int]) -> FrameParts:
    def parts() -> Iterator[pd.DataFrame]:
        for number, frame in enumerate(frames):
            read.append(number)
            yield frame

    return FrameParts(parts, sum(map(len, frames)))


def test_empty_fields_stop_reading_parts_once_every_field_has_a_value() -> None:
    fields = list(SPEC.detail.fields)
    full = pd.DataFrame({name: ["x"] for name in fields})
    some = full.assign(**{fields[0]: [None]})
    read: list[int] = []
    assert frame_facts(SPEC, parts_of([some, full, some, some], read)) == (4, [])
    assert read == [0, 1], "parts read after every field had a value"
    read.clear()  # a field empty in every part: every part is read, the field named
    blank = [some.assign(**{fields[0]: ["  "]}), some, some]
    assert frame_facts(SPEC, parts_of(blank, read)) == (3, [fields[0]])
    assert read == [0, 1, 2]
