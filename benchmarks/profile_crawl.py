"""Where a crawl's CPU goes per page: Harvest's crawl child against the plain spider, sampled.

    pip install py-spy   # a sampling profiler (not a Harvest dependency)
    python benchmarks/profile_crawl.py [--listings 1000] [--py-spy PATH]
    python benchmarks/profile_crawl.py --cprofile [--listings 1000]   # no py-spy needed

Not a benchmark (no ratio, no goal; ``make bench`` does not run it): the tool behind the
breakdown in ``benchmarks/README.md``. The demo site (its own process, no JavaScript pages) is
warmed, then each side crawls it once under ``py-spy record --format raw`` at 250 samples/s
with the settings of ``bench_crawl.py``: the plain spider (``scrapy runspider plain_spider.py``,
with Scrapy's HTTP cache and a feed export, as in ``bench_crawl.py``)
and Harvest's crawl child (``python -m harvest.crawler.crawl``, as ``run_crawl`` starts it). Each
sample is put in the bucket of the deepest Harvest (or Spidermon, itemloaders) frame on its
stack: extraction, HTTP cache storage, raw store, monitors, outcome and other middlewares; a
sample with none is Scrapy/Twisted core (parsel apart), one inside an import is start-up;
Harvest's download handler (``harvest.crawler.deadline_handler``) only wraps Scrapy's HTTP/1.1 one, so
what runs under it is core too.
Samples of waiting threads (select, locks, sleeps) are left out. Printed: milliseconds of
sampled CPU per page in each bucket, per side. Sampling has its own overhead and a busy machine
inflates every bucket alike: compare the buckets and the two sides, not the totals with
``bench_crawl.py``'s unprofiled CPU times.

``--cprofile`` runs each side under ``cProfile`` with a CPU-time clock instead (deterministic:
a busy machine's waits are not counted, as py-spy's samples count them) and prints the CPU
seconds of each part (:data:`PARTS`: the cumulative time of the functions named there) per side.
Its overhead grows with the calls a part makes, so parts of many small calls look larger than
they are: compare a part between two runs of the same side (before and after a change).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml
from _common import DAY, REPO, SiteProcess, _child_env, demo_spec, load_average
from bench_crawl import PLAIN_CACHE, common_settings

RATE = 250
IDLE = ("Condition.wait", "_wait (asyncio", "select (selectors", "poll (", "Lock.acquire",
        "sleep", "Event.wait", "Thread.join", "wait (threading", "_worker (concurrent")  # fmt: skip
HARVEST_FRAME = re.compile(
    r"\((harvest(?!/crawler/(?:crawl|deadline|deadline_handler)\.py)[^:]*|spidermon[^:]*|itemloaders[^:]*|plain_spider\.py)"
)
BUCKETS = [
    ("spidermon", "monitors (Spidermon)"),
    ("crawler/monitor", "monitors (Harvest's field coverage)"),
    ("http_cache_storage", "HTTP cache storage"),
    ("http_cache_entries", "HTTP cache storage"),
    ("storage/raw", "item pipeline: raw store"),
    ("crawler/pipelines", "item pipeline: raw store"),
    ("crawler/outcomes", "outcome middlewares"),
    ("extract", "extraction (spider callbacks)"),
    ("spiders", "extraction (spider callbacks)"),
    ("itemloaders", "extraction (spider callbacks)"),
    ("plain_spider", "extraction (spider callbacks)"),
    ("crawler/robots", "other Harvest middlewares"),
    ("crawler/limits", "other Harvest middlewares"),
    ("crawler/middlewares", "other Harvest middlewares"),
    ("crawler/throttle", "other Harvest middlewares"),
]


# (part, [(file the function is in, function name), ...]) for --cprofile; plain spider and
# Harvest functions side by side in one part where they do the same job
PARTS = [
    ("new TCP connections", [("twisted/web/client.py", "_newConnection")]),
    ("list pages' callbacks (link following)",
     [("harvest/crawler/spiders/generic.py", "level_page"), ("plain_spider.py", "parse")]),
    ("  of which canonicalising links", [("harvest/crawler/spiders/base.py", "canonical")]),
    ("detail pages' callbacks",
     [("harvest/crawler/spiders/item_pages.py", "parse_detail"), ("plain_spider.py", "parse_detail")]),
    ("  of which the fields",
     [("harvest/extract.py", "page_fields"), ("plain_spider.py", "<dictcomp>")]),
    ("HTTP cache (middleware and storage)",
     [("scrapy/downloadermiddlewares/httpcache.py", "process_request"),
      ("scrapy/downloadermiddlewares/httpcache.py", "process_response")]),
    ("items written (raw store / feed export)",
     [("harvest/crawler/pipelines.py", "process_item"), ("harvest/crawler/pipelines.py", "close_spider"),
      ("harvest/crawler/pipelines.py", "spider_closed"), ("scrapy/extensions/feedexport.py", "item_scraped"),
      ("scrapy/extensions/feedexport.py", "close_spider")]),
    ("monitors (field coverage, Spidermon suite)",
     [("harvest/crawler/monitors.py", "item_scraped"), ("harvest/crawler/monitors.py", "spider_closed")]),
]  # fmt: skip
# a side's process under cProfile with a CPU clock, its profile written to argv[1]
PROFILED = (
    "import cProfile, sys, time\n"
    "out = sys.argv.pop(1)\n"
    "profile = cProfile.Profile(time.process_time)\n"
    "profile.enable()\n"
    "try:\n"
    "    {run}\n"
    "except SystemExit:\n"
    "    pass\n"
    "profile.disable()\n"
    "profile.dump_stats(out)\n"
)
RUN_PLAIN = "from scrapy.cmdline import execute; execute(['scrapy', *sys.argv[1:]])"
RUN_HARVEST = "from harvest.crawler.crawl import main; main(sys.argv[1:])"


def parts(profile: Path) -> dict[str, float]:
    """CPU seconds per part of :data:`PARTS` in a cProfile dump, and the process's total."""
    import pstats

    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    out = {"process total": sum(entry[2] for entry in stats.values())}
    for name, functions in PARTS:
        out[name] = sum(
            entry[3]
            for (path, _, function), entry in stats.items()
            if any(path.endswith(f) and function == fn for f, fn in functions)
        )
    return out


def bucket(frames: list[str]) -> str:
    if any("importlib" in f for f in frames):
        return "start-up (imports)"
    deepest = None
    for frame in frames:
        match = HARVEST_FRAME.search(frame)
        if match:
            deepest = match.group(1)
    if deepest is None:
        leaf = frames[-1]
        return "core: parsel/lxml" if "parsel" in leaf or "lxml" in leaf else "core: Scrapy/Twisted"
    for marker, name in BUCKETS:
        if marker in deepest:
            return name
    return f"other Harvest code ({deepest})"


def classify(raw: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[-1].strip() or any(idle in frames[-1] for idle in IDLE):
            continue
        counts[bucket(frames)] += int(n)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="the py-spy binary")
    parser.add_argument("--keep", type=Path, help="copy py-spy's raw stacks of each side here")
    parser.add_argument("--cprofile", action="store_true", help="cProfile each side instead")
    args = parser.parse_args()
    if not args.py_spy and not args.cprofile:
        print("profile_crawl: py-spy not found (pip install py-spy, or --py-spy PATH)")
        return 1
    settings = common_settings(args.concurrency)
    spec = demo_spec()
    fields = json.dumps({name: field.css for name, field in spec.detail.fields.items()})
    how = "cProfile, CPU clock" if args.cprofile else "sampled"
    print(f"== crawl CPU per page, {how}: {args.listings} listings; {load_average()}")
    counts: dict[str, Counter[str]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="profile-crawl-") as tmp,
        SiteProcess(args.listings, js_fraction=0.0) as site,
    ):
        pages = args.listings + site.config.pages_per_day
        work = Path(tmp)
        spec_path = work / "demo.yaml"
        spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        start_url = spec.start_urls_for(DAY, base_url=site.base_url)[0]
        plain = [sys.executable, "-m", "scrapy", "runspider", str(REPO / "benchmarks/plain_spider.py"),
                 "-a", f"start_url={start_url}", "-a", f"fields={fields}", "-O", str(work / "items.jsonl")]  # fmt: skip
        warm = list(plain)  # the plain spider without its HTTP cache: the site warmed, untimed
        for key, value in settings.items():
            plain += ["-s", f"{key}={value}"]
            warm += ["-s", f"{key}={value}"]
        for key, value in PLAIN_CACHE.items():
            plain += ["-s", f"{key}={value}"]
        harvest = [sys.executable, "-m", "harvest.crawler.crawl", "--spec", str(spec_path),
                   "--date", DAY.isoformat(), "--base-url", site.base_url,
                   "--scrapy-settings", json.dumps(settings)]  # fmt: skip
        env = _child_env()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run(warm, cwd=work, env=env, capture_output=True, check=True)  # warm the site
        if args.cprofile:
            return print_parts(work, env, plain, harvest, pages)
        for side, command in (("plain spider", plain), ("harvest", harvest)):
            raw = work / f"{side}.raw"
            home = work / f"home-{len(counts)}"
            record = [
                args.py_spy,
                "record",
                "-r",
                str(RATE),
                "--format",
                "raw",
                "-o",
                str(raw),
                "--",
            ]
            subprocess.run(record + command, cwd=work, env={**env, "HARVEST_HOME": str(home)},
                           capture_output=True, check=True)  # fmt: skip
            counts[side] = classify(raw)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(raw, args.keep / raw.name)
    names = sorted({n for c in counts.values() for n in c}, key=lambda n: -counts["harvest"][n])
    print(f"{'ms of sampled CPU per page':<44}{'plain spider':>14}{'harvest':>10}")
    for name in names:
        cells = "".join(f"{1000 * counts[s][name] / RATE / pages:>{w}.2f}"
                        for s, w in (("plain spider", 14), ("harvest", 10)))  # fmt: skip
        print(f"  {name:<42}{cells}")
    totals = "".join(f"{1000 * sum(counts[s].values()) / RATE / pages:>{w}.2f}"
                     for s, w in (("plain spider", 14), ("harvest", 10)))  # fmt: skip
    print(f"  {'total':<42}{totals}   ({pages} pages; {load_average()})")
    return 0


def print_parts(
    work: Path, env: dict[str, str], plain: list[str], harvest: list[str], pages: int
) -> int:
    """--cprofile: each side once under cProfile (a CPU clock); its parts' CPU seconds."""
    found = {}
    for side, command, run in (
        ("plain spider", plain, RUN_PLAIN),
        ("harvest", harvest, RUN_HARVEST),
    ):
        dump = work / f"{side}.prof"
        profiled = [sys.executable, "-c", PROFILED.format(run=run), str(dump), *command[3:]]
        subprocess.run(profiled, cwd=work, env={**env, "HARVEST_HOME": str(work / "home-c")},
                       capture_output=True, check=True)  # fmt: skip
        found[side] = parts(dump)
    print(
        f"{'cProfile CPU seconds, ' + format(pages, ',') + ' pages':<46}{'plain spider':>14}{'harvest':>10}"
    )
    for name in [name for name, _ in PARTS] + ["process total"]:
        print(f"  {name:<44}{found['plain spider'][name]:>14.2f}{found['harvest'][name]:>10.2f}")
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
