"""Vendor the CSS, JavaScript and fonts Great Expectations' Data Docs load from CDNs, so they
render offline: ``make venv`` runs it, the Dockerfile too.

GX's page templates link Bootstrap, bootstrap-table, bootstrap-datepicker, bootstrap-dark,
Vega / Vega-Lite / Vega-Embed, Font Awesome, jQuery and popper.js from five CDNs. Every one of
them is an npm package: ``scripts/data_docs_assets.lock.json`` pins each package's version, its
tarball on the npm registry and the tarball's integrity hash (SRI, sha512, as npm's
``dist.integrity``), and lists the files taken from it and the CDN URLs they stand for. This
script downloads each tarball, refuses one whose hash differs, and extracts those files into
``DEST`` (default ``<venv>/share/harvest/data-docs-assets``) with ``manifest.json`` (CDN URL ->
file). ``harvest.validation.data_docs`` copies them next to the Data Docs and rewrites the URLs.

GX's own template override does not work for this (GX looks in its own templates first), so the
files are rewritten after each build instead. Standard library only: it runs before anything
else is importable. ``--lock`` refreshes the tarball URLs and hashes with ``npm view`` (after
changing a version in the lock file).

    python scripts/vendor_data_docs.py [--dest DIR] [--lock]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parent.parent
LOCK = Path(__file__).resolve().parent / "data_docs_assets.lock.json"
DEFAULT_DEST = Path(sys.prefix) / "share" / "harvest" / "data-docs-assets"


class IntegrityError(RuntimeError):
    """A downloaded tarball is not the one the lock file names."""


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def sri_matches(data: bytes, integrity: str) -> bool:
    """Whether ``data`` has the Subresource Integrity hash ``integrity`` (``sha512-<base64>``;
    several space-separated hashes: any one)."""
    for item in integrity.split():
        algorithm, _, expected = item.partition("-")
        if algorithm not in ("sha256", "sha384", "sha512"):
            continue
        digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
        if digest == expected:
            return True
    return False


def _download(url: str, attempts: int = 3) -> bytes:
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - https from the lock
                data: bytes = response.read()
                return data
        except (urllib.error.URLError, TimeoutError, OSError):
            if attempt == attempts:
                raise
            time.sleep(2 * attempt)
    raise AssertionError("unreachable")


def _lock_digest(lock_text: str) -> str:
    return hashlib.sha256(lock_text.encode()).hexdigest()


def package_dir(package: dict[str, object]) -> str:
    """Where a package's files go under the destination: ``<name>@<version>``."""
    return f"{package['name']}@{package['version']}"


def extract(package: dict[str, object], tarball: bytes, dest: Path) -> dict[str, str]:
    """Extract the package's listed files and folders into ``dest/<name>@<version>/``; return
    its CDN URL -> relative file mapping."""
    root = dest / package_dir(package)
    files: dict[str, list[str]] = package["files"]  # type: ignore[assignment]
    folders: list[str] = package.get("folders", [])  # type: ignore[assignment]
    urls: dict[str, str] = {}
    wanted = set(files)
    found: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            # npm tarballs hold one top folder (usually package/); paths are relative to it
            inner = PurePosixPath(*PurePosixPath(member.name).parts[1:])
            name = str(inner)
            if name not in wanted and not any(name.startswith(f"{f}/") for f in folders):
                continue
            if ".." in inner.parts or inner.is_absolute():
                raise IntegrityError(f"{package_dir(package)}: unsafe path {member.name!r}")
            target = root / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is None:
                raise IntegrityError(f"{package_dir(package)}: cannot read {member.name!r}")
            target.write_bytes(source.read())
            found.add(name)
    missing = sorted(wanted - found)
    if missing:
        raise IntegrityError(f"{package_dir(package)}: the tarball has no {', '.join(missing)}")
    for name, cdn_urls in files.items():
        for url in cdn_urls:
            urls[url] = f"{package_dir(package)}/{name}"
    return urls


def vendor(dest: Path, lock_path: Path = LOCK) -> int:
    """Download, check and extract every package of the lock into ``dest``; 0 when done (or
    already done for this lock), 1 when a download failed, 2 on an integrity mismatch."""
    lock_text = lock_path.read_text(encoding="utf-8")
    digest = _lock_digest(lock_text)
    manifest_path = dest / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("lock_sha256") == digest:
            manifest_path.touch()  # up to date for make, which compares it with the lock
            return 0
    lock = json.loads(lock_text)
    packages = lock["packages"]
    say(f"Data Docs assets: {len(packages)} npm packages into {dest}")
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    urls: dict[str, str] = {}
    for package in packages:
        try:
            tarball = _download(package["tarball"])
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            say(
                f"warning: cannot download {package_dir(package)} ({package['tarball']}): {exc}; "
                "Data Docs will load their styles from CDNs until this runs again (make venv)"
            )
            shutil.rmtree(staging, ignore_errors=True)
            return 1
        if not sri_matches(tarball, package["integrity"]):
            shutil.rmtree(staging, ignore_errors=True)
            say(
                f"error: {package['tarball']} does not match its integrity hash in {lock_path} "
                f"({package['integrity'][:24]}...): not using it"
            )
            return 2
        urls.update(extract(package, tarball, staging))
        say(f"  {package_dir(package)}: {len(package['files'])} files ({len(tarball) // 1024} KiB)")
    (staging / "manifest.json").write_text(
        json.dumps({"lock_sha256": digest, "urls": urls}, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return 0


def relock(lock_path: Path = LOCK) -> int:
    """Fill in each package's tarball URL and integrity from the npm registry (``npm view``)."""
    npm = shutil.which("npm")
    if npm is None:
        say("error: --lock needs npm (Node.js) on PATH")
        return 1
    lock = json.loads(lock_path.read_text(encoding="utf-8"))
    for package in lock["packages"]:
        spec = f"{package['name']}@{package['version']}"
        out = subprocess.run(  # noqa: S603 - npm with fixed arguments
            [npm, "view", spec, "dist.tarball", "dist.integrity", "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        dist = json.loads(out)
        package["tarball"], package["integrity"] = dist["dist.tarball"], dist["dist.integrity"]
        say(f"  {spec}: {package['integrity'][:30]}...")
    lock_path.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="where to put the files")
    parser.add_argument("--lock", action="store_true", help="refresh hashes with npm view")
    args = parser.parse_args(argv)
    return relock() if args.lock else vendor(args.dest)


if __name__ == "__main__":
    sys.exit(main())
