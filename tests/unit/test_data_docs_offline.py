"""Data Docs offline: the vendoring script (integrity refused when wrong, only listed files
taken), the lock covering every CDN URL GX's templates load, and the rewrite of pages to the
vendored files. The browser test is ``tests/integration/test_docs_offline.py``."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from harvest.validation.data_docs import VENDOR, make_offline, offline_or_warn
from scripts import vendor_data_docs as vendor

LOCK = json.loads(vendor.LOCK.read_text(encoding="utf-8"))
_GX = importlib.util.find_spec("great_expectations")  # its templates, without importing GX
assert _GX is not None and _GX.submodule_search_locations
TEMPLATES = Path(next(iter(_GX.submodule_search_locations))) / "render" / "view" / "templates"
BOOTSTRAP_CSS = "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"
POPPER = "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js"


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_every_cdn_file_gx_templates_load_is_in_the_lock() -> None:
    loaded = set()
    for template in TEMPLATES.glob("*.j2"):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", text):
            loaded.update(re.findall(r'(?:src|href)="(https://[^"]+)"', tag))
    locked = {
        url for package in LOCK["packages"] for urls in package["files"].values() for url in urls
    }
    assert len(loaded) >= 15
    assert loaded <= locked, f"GX loads files the lock does not vendor: {sorted(loaded - locked)}"


def test_gx_integrity_attributes_name_the_locked_versions() -> None:
    # GX pins popper and Bootstrap's JS by sha384; the vendored files must be those files
    text = (TEMPLATES / "js_script_imports.j2").read_text(encoding="utf-8")
    pinned = dict(re.findall(r'src="([^"]+)" integrity="([^"]+)"', text))
    assert set(pinned) == {
        POPPER,
        "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js",
    }
    versions = {p["name"]: p["version"] for p in LOCK["packages"]}
    assert versions["popper.js"] == "1.12.9" and versions["bootstrap"] == "4.3.1"


def test_sri_matches_only_the_same_bytes() -> None:
    assert vendor.sri_matches(b"abc", _sri(b"abc"))
    assert not vendor.sri_matches(b"abd", _sri(b"abc"))
    assert vendor.sri_matches(b"abc", f"sha1-xxx {_sri(b'abc')}")


def _lock(tmp_path: Path, tarball: bytes, integrity: str) -> Path:
    path = tmp_path / "lock.json"
    tar_path = tmp_path / "pkg-1.0.0.tgz"
    tar_path.write_bytes(tarball)
    path.write_text(json.dumps({"packages": [{
        "name": "pkg", "version": "1.0.0", "tarball": tar_path.as_uri(), "integrity": integrity,
        "files": {"dist/pkg.min.css": ["https://cdn.example/pkg@1/pkg.min.css"]},
        "folders": ["fonts"],
    }]}), encoding="utf-8")  # fmt: skip
    return path


def test_vendor_extracts_the_listed_files_and_writes_the_manifest(tmp_path: Path) -> None:
    tarball = _tarball({
        "dist/pkg.min.css": b"body{}", "fonts/a.woff2": b"font", "src/big.js": b"unused",
    })  # fmt: skip
    lock = _lock(tmp_path, tarball, _sri(tarball))
    dest = tmp_path / "assets"
    assert vendor.vendor(dest, lock) == 0
    assert (dest / "pkg@1.0.0" / "dist" / "pkg.min.css").read_bytes() == b"body{}"
    assert (dest / "pkg@1.0.0" / "fonts" / "a.woff2").exists()
    assert not (dest / "pkg@1.0.0" / "src").exists()
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["urls"] == {
        "https://cdn.example/pkg@1/pkg.min.css": "pkg@1.0.0/dist/pkg.min.css"
    }
    (dest / "pkg@1.0.0" / "dist" / "pkg.min.css").write_bytes(b"kept")
    assert vendor.vendor(dest, lock) == 0  # same lock: nothing fetched again
    assert (dest / "pkg@1.0.0" / "dist" / "pkg.min.css").read_bytes() == b"kept"


def test_vendor_refuses_a_tarball_whose_hash_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tarball = _tarball({"dist/pkg.min.css": b"body{}"})
    lock = _lock(tmp_path, tarball, _sri(b"another tarball"))
    dest = tmp_path / "assets"
    assert vendor.vendor(dest, lock) == 2
    assert not dest.exists()
    assert "does not match its integrity hash" in capsys.readouterr().out


def _assets(tmp_path: Path) -> Path:
    assets = tmp_path / "assets"
    (assets / "bootstrap@4.3.1" / "dist" / "css").mkdir(parents=True)
    (assets / "bootstrap@4.3.1" / "dist" / "css" / "bootstrap.min.css").write_text("x")
    (assets / "popper.js@1.12.9" / "dist" / "umd").mkdir(parents=True)
    (assets / "popper.js@1.12.9" / "dist" / "umd" / "popper.min.js").write_text("y")
    (assets / "manifest.json").write_text(json.dumps({"lock_sha256": "1", "urls": {
        BOOTSTRAP_CSS: "bootstrap@4.3.1/dist/css/bootstrap.min.css",
        POPPER: "popper.js@1.12.9/dist/umd/popper.min.js",
    }}))  # fmt: skip
    return assets


PAGE = f"""<link rel="stylesheet" href="{BOOTSTRAP_CSS}"/>
<script src="{POPPER}" integrity="sha384-ApNbgh9B" crossorigin="anonymous"></script>
<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20261126T000000.0Z&dataContextId=x">
<a href="https://greatexpectations.io">a link is not a load</a>"""


def test_make_offline_points_every_page_at_the_vendored_files(tmp_path: Path) -> None:
    site = tmp_path / "data_docs"
    page = site / "validations" / "suite" / "run" / "page.html"
    page.parent.mkdir(parents=True)
    page.write_text(PAGE)
    (site / "index.html").write_text(PAGE)
    (site / "static" / "images").mkdir(parents=True)
    (site / "static" / "images" / "logo-long.png").write_bytes(b"png")
    result = make_offline(site, _assets(tmp_path))
    assert (result.pages, result.urls, result.assets_copied) == (2, 6, True)
    deep = page.read_text()
    assert '"../../../static/vendor/bootstrap@4.3.1/dist/css/bootstrap.min.css"' in deep
    assert '<script src="../../../static/vendor/popper.js@1.12.9/dist/umd/popper.min.js">' in deep
    assert 'src="../../../static/images/logo-long.png"' in deep
    assert "https://greatexpectations.io" in deep  # links stay: nothing loads them
    assert 'href="static/vendor/bootstrap@4.3.1/' in (site / "index.html").read_text()
    assert (site / VENDOR / "bootstrap@4.3.1" / "dist" / "css" / "bootstrap.min.css").exists()
    assert not (site / VENDOR / "manifest.json").exists()
    again = make_offline(site, tmp_path / "assets")  # nothing new: nothing rewritten or copied
    assert (again.pages, again.urls, again.assets_copied) == (0, 0, False)
    assert page.read_text() == deep


def test_without_vendored_assets_a_warning_says_how(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert offline_or_warn(tmp_path / "docs", tmp_path / "none") is None
    assert "make venv" in caplog.text and "CDNs" in caplog.text
