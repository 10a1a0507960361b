"""What the DAG files need of each source spec, cached so that a DAG parse skips the spec models.

The DAG processor parses every file in ``dags/`` every 30 s, each time in a fresh process;
importing and validating the pydantic spec models (with their selector checks: parsel, lxml,
jmespath) is most of a cold parse. A DAG needs only a few facts of a spec (:class:`DagSpec`),
so those are kept in ``<HARVEST_HOME>/dag_specs.json`` with what they were derived from: the
sources folder, each spec file's size and modification time, and the same of the Harvest modules
that validate specs (``harvest/config``, ``harvest/fields``, ``harvest/parsers``) and of the
modules that render the DAG docs. Any change there (a spec edited, added or removed, Harvest
upgraded) loads the specs in full again and rewrites the file; a spec that fails validation is
kept as its error (:class:`BrokenSpec`), so its DAG stays a broken-spec DAG. When the home is
not writable the specs are simply loaded in full at every parse.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from harvest.config import Settings, SourceSpec

log = logging.getLogger(__name__)

CACHE_NAME = "dag_specs.json"
_FORMAT = 1  # bump when DagSpec's fields change


class DagSpec(NamedTuple):
    """The facts of a valid spec its DAGs are built from (dates as ISO strings). Named tuples,
    not dataclasses: creating a dataclass costs about 0.7 ms of each cold parse."""

    name: str
    dag_id: str
    description: str
    schedule: str | None
    start_date: str
    owner: str
    tags: tuple[str, ...]
    queue: str | None
    max_duration_minutes: int
    target: str | None
    doc_md: str

    @classmethod
    def from_spec(cls, spec: SourceSpec) -> DagSpec:
        from harvest_airflow.docs import source_doc_md

        return cls(
            name=spec.name,
            dag_id=spec.dag_id,
            description=spec.description,
            schedule=spec.schedule,
            start_date=spec.start_date.isoformat(),
            owner=spec.owner,
            tags=tuple(sorted(spec.tags)),
            queue=spec.queue,
            max_duration_minutes=spec.sla.max_duration_minutes,
            target=spec.target,
            doc_md=source_doc_md(spec),
        )


class BrokenSpec(NamedTuple):
    """A spec file that failed validation: its error as text and the Markdown of its DAG page."""

    stem: str
    error: str
    doc_md: str


class DagSpecs(NamedTuple):
    """Valid specs by source name, broken ones by file stem (as :func:`load_specs` gives them)."""

    specs: dict[str, DagSpec]
    broken: dict[str, BrokenSpec]


def _stamp(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path), stat.st_mtime_ns, stat.st_size]


def _code_files() -> list[Path]:
    import harvest.config  # already imported for Settings

    package = Path(harvest.config.__file__).resolve().parents[1]
    files = [package / "errors.py", package / "text.py", Path(__file__).with_name("docs.py")]
    for folder in ("config", "fields", "parsers"):
        files.extend(sorted((package / folder).rglob("*.py")))
    return [*files, Path(__file__)]


def cache_key(sources_dir: Path) -> list[Any]:
    """What the cached facts were derived from: the folder, its spec files, the code."""
    from harvest.config.settings import spec_files

    return [
        _FORMAT,
        str(sources_dir.resolve()),
        [_stamp(path) for path in spec_files(sources_dir)],
        [_stamp(path) for path in _code_files()],
    ]


def _load_in_full(sources_dir: Path) -> DagSpecs:
    from harvest.config.spec import load_specs
    from harvest_airflow.docs import broken_spec_doc_md

    loaded = load_specs(sources_dir)
    return DagSpecs(
        specs={name: DagSpec.from_spec(spec) for name, spec in loaded.specs.items()},
        broken={
            stem: BrokenSpec(stem, str(error), broken_spec_doc_md(stem, error))
            for stem, error in loaded.errors.items()
        },
    )


def _read(path: Path, key: list[Any]) -> DagSpecs | None:
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached["key"] != key:
            return None
        return DagSpecs(
            specs={s["name"]: DagSpec(**{**s, "tags": tuple(s["tags"])}) for s in cached["specs"]},
            broken={b["stem"]: BrokenSpec(**b) for b in cached["broken"]},
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("Ignoring the unreadable spec cache %s (%s); loading the specs", path, exc)
        return None


def _write(path: Path, key: list[Any], result: DagSpecs) -> None:
    document = {
        "key": key,
        "specs": [spec._asdict() for spec in result.specs.values()],
        "broken": [broken._asdict() for broken in result.broken.values()],
    }
    import tempfile

    written: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as tmp:
            written = tmp.name
            json.dump(document, tmp)
        os.replace(written, path)  # atomic: parallel parses read the old file or the new one
    except OSError as exc:
        if written:
            Path(written).unlink(missing_ok=True)
        log.info("Cannot keep the spec cache %s (%s): specs are loaded at every parse", path, exc)


def dag_specs(settings: Settings) -> DagSpecs:
    """The specs of ``settings.sources_dir`` as the DAG files need them, from the cache when
    nothing they derive from changed (see the module's docstring); an empty result when the
    folder does not exist."""
    sources_dir = settings.sources_dir
    if not sources_dir.is_dir():
        return DagSpecs({}, {})
    key = cache_key(sources_dir)
    path = settings.home / CACHE_NAME
    cached = _read(path, key)
    if cached is not None:
        return cached
    result = _load_in_full(sources_dir)
    _write(path, key, result)
    return result
