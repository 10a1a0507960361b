"""Data Docs that render offline: the CDN files GX's pages load, served from the site itself.

GX's templates load Bootstrap, bootstrap-table, bootstrap-datepicker, bootstrap-dark, Vega,
Font Awesome, jQuery and popper.js from CDNs and its logo from S3, so offline the pages are
blank. ``scripts/vendor_data_docs.py`` vendors those files from the npm registry at install time
(integrity-checked) into an assets folder with a ``manifest.json`` (CDN URL -> file);
:func:`make_offline` copies that folder into the site (``static/vendor/``) and rewrites every URL
in the pages built since its last pass to a relative path, so the site works from ``file://``
and from any web server. GX's own template override cannot do it (GX reads its own templates
first).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

VENDOR = Path("static") / "vendor"
MARKER = ".harvest-offline"
_S3_ASSET = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/([\w.-]+)(\?[^\"')\s]*)?"
)
# A script tag GX gives a Subresource Integrity hash and crossorigin: once the file is local
# (its tarball's own hash checked when vendored), a browser reading the site from file:// would
# refuse the check (a file is its own origin), so both attributes go.
_SRI = re.compile(r'\s+integrity="sha\d+-[^"]*"(\s+crossorigin="anonymous")?')


@dataclass(frozen=True)
class OfflineResult:
    """What :func:`make_offline` did: pages rewritten, URLs replaced in them, and whether the
    vendored files were copied in this pass (``assets_copied``)."""

    pages: int
    urls: int
    assets_copied: bool


def _manifest(assets: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((assets / "manifest.json").read_text(encoding="utf-8"))
    return data


def _copy_assets(site: Path, assets: Path, digest: str) -> bool:
    target = site / VENDOR
    stamp = target / MARKER
    if stamp.exists() and stamp.read_text(encoding="utf-8") == digest:
        return False
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(assets, target, ignore=shutil.ignore_patterns("manifest.json"))
    stamp.write_text(digest, encoding="utf-8")
    return True


def _relative(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def _rewrite(text: str, page: Path, site: Path, urls: dict[str, str]) -> tuple[str, int]:
    count = 0
    for url in sorted(urls, key=len, reverse=True):  # vega-embed@6 before vega@5's prefix...
        if url in text:
            count += text.count(url)
            text = text.replace(url, _relative(site / VENDOR / urls[url], page))

    def local_image(match: re.Match[str]) -> str:
        name = match.group(1)
        images = site / "static" / "images"
        image = images / name if (images / name).exists() else images / "logo-long.png"
        return _relative(image, page)

    text, images = _S3_ASSET.subn(local_image, text)
    if count:
        text = _SRI.sub("", text)
    return text, count + images


def make_offline(site: Path, assets: Path) -> OfflineResult:
    """Copy the vendored files under ``assets`` into ``site/static/vendor`` (once per
    manifest) and point every page and style sheet built since the last pass at them.

    Raises ``FileNotFoundError`` when ``assets`` has no ``manifest.json``."""
    manifest = _manifest(assets)
    urls: dict[str, str] = manifest["urls"]  # type: ignore[assignment]
    copied = _copy_assets(site, assets, str(manifest.get("lock_sha256", "")))
    marker = site / VENDOR / f"{MARKER}.pages"
    since = marker.stat().st_mtime - 2 if marker.exists() and not copied else 0.0
    pages = replaced = 0
    candidates = [*site.rglob("*.html"), *(site / "static" / "styles").glob("*.css")]
    for page in candidates:
        if page.stat().st_mtime < since or VENDOR.as_posix() in page.as_posix():
            continue
        text = page.read_text(encoding="utf-8")
        new, count = _rewrite(text, page, site, urls)
        if new != text:
            page.write_text(new, encoding="utf-8")
            pages += 1
            replaced += count
    marker.touch()
    return OfflineResult(pages=pages, urls=replaced, assets_copied=copied)


def offline_or_warn(site: Path, assets: Path | None) -> OfflineResult | None:
    """:func:`make_offline` when vendored assets exist; else one warning saying the pages load
    their styles from CDNs and how to vendor them."""
    if assets is None or not (assets / "manifest.json").exists():
        log.warning(
            "Data Docs in %s load their CSS/JS from CDNs (no vendored assets in %s): offline "
            "they show unstyled. Run `make venv` (or `python scripts/vendor_data_docs.py "
            "--dest DIR` and set HARVEST_DATA_DOCS_ASSETS=DIR) to render them offline.",
            site,
            assets,
        )
        return None
    return make_offline(site, assets)
