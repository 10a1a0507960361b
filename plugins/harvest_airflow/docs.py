"""The Markdown shown on a Harvest DAG's page (``doc_md``), rendered from its source spec.

Kept out of the DAG file so that it stays wiring only; plain string work, cheap at parse time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harvest.config import SourceSpec, SpecError


def source_doc_md(spec: SourceSpec) -> str:
    """The Markdown of a source's DAG page: its settings from the spec and what each task does."""
    js = spec.javascript
    rows = [
        ("base URL", f"`{spec.base_url}` (env `HARVEST_SOURCE_{spec.name.upper()}_BASE_URL`)"),
        ("start URLs", "<br>".join(f"`{url}`" for url in spec.start_urls)),
        ("schedule", f"`{spec.schedule}`" if spec.schedule else "manual only"),
        ("start date", spec.start_date.isoformat()),
        ("owner", spec.owner),
        ("detail fields", ", ".join(f"`{name}`" for name in spec.detail.fields)),
        ("key / target", f"`{spec.detail.key}` / `{spec.target or '-'}`"),
        ("JavaScript pages", f"marker `{js.marker}`" if js.enabled else "none"),
        (
            "crawl",
            f"{spec.crawl.concurrency_per_domain} per domain, {spec.crawl.retries} retries, "
            f"robots.txt {'obeyed' if spec.crawl.obey_robots_txt else 'ignored'}, "
            f"max pages {spec.crawl.max_pages or 'unlimited'}",
        ),
        (
            "SLA",
            f"done by {spec.sla.finish_by or '-'} UTC, at most {spec.sla.max_duration_minutes} "
            f"min, data at most {spec.sla.freshness_hours} h old",
        ),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (
        f"### Source `{spec.name}`\n\n{spec.description or '(no description)'}\n\n"
        f"| setting | value |\n|---|---|\n{table}\n\n"
        "#### Tasks\n\n"
        "1. **scrape**: crawl the data interval into the raw store (upserts by URL; "
        f"Asset `x-harvest://raw/{spec.name}`).\n"
        "2. **validate**: the spec's Great Expectations suite; failing records go to the "
        "`quarantine` table with a reason, the valid ones to staging. A broken critical "
        "expectation fails the run at once (no retries): fix the cause, then clear the run.\n"
        "3. **clean**: normalise, de-duplicate (within the partition and against "
        f"{spec.dedup.history_days} days of history), impute.\n"
        f"4. **load** (mode `{spec.mode}`): "
        + (
            f"observations into `processed_{spec.name}` and versions rebuilt in "
            f"`versions_{spec.name}`, in one transaction; "
            if spec.mode == "catalogue"
            else f"upsert into `processed_{spec.name}` in one transaction, then later loaded "
            "dates re-checked; "
        )
        + "counts and warnings in `partition_loads` "
        f"(Asset `x-harvest://processed/{spec.name}`).\n\n"
        "Edit the source's YAML spec to change these; see docs/reference/spec.md."
    )


def broken_spec_doc_md(stem: str, error: SpecError) -> str:
    """The Markdown of the placeholder DAG of spec file ``<stem>.yaml`` that failed validation:
    file, field and problem, and what to do."""
    return (
        "### Broken source spec\n\n"
        f"The spec of source {stem!r} is invalid, so its DAG cannot be built.\n\n"
        f"- file: `{error.path}`\n- field: `{error.field or '(whole file)'}`\n"
        f"- problem: {error.message}\n\nFix the file; the DAG comes back on the next parse."
    )
