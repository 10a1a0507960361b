"""What every page shares: the settings, specs and read-only warehouse (one per app process),
the chosen source, cached reads keyed on the source's data version, and errors shown as a
message, never a traceback nor a connection string."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import streamlit as st

from harvest.config import Settings, SourceSpec
from harvest.config.spec import SpecError, load_specs
from harvest.errors import HarvestError
from harvest.storage.warehouse import (
    Warehouse,
    WarehouseError,
    WarehouseUnavailable,
    open_warehouse,
)

log = logging.getLogger("harvest.app")
T = TypeVar("T")


class NoData(HarvestError):
    """Nothing to show yet (no partition, no source): shown as an information message."""


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The app's settings, read once from the environment (embedded defaults)."""
    return Settings.from_env()


@st.cache_resource(show_spinner=False)
def specs() -> dict[str, SourceSpec]:
    """Every source spec that loads; broken ones are logged (the CLI's ``validate`` names them)."""
    loaded = load_specs(settings().sources_dir)
    for name, error in loaded.errors.items():
        log.warning("source %s: spec not loaded: %s", name, error)
    return dict(loaded.specs)


@st.cache_resource(show_spinner=False)
def warehouse() -> Warehouse:
    """The warehouse of the settings, opened read-only (one engine per app process)."""
    return open_warehouse(settings(), read_only=True)


def now() -> dt.datetime:
    """The current time (UTC) to the minute: freshness changes no faster, and cached views
    keyed on it are reused within the minute."""
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


def version(source: str) -> tuple[int, str]:
    """The source's data version (partitions, newest load time): part of every cache key, so a
    new load or re-run shows at once and nothing else is read again."""
    count, newest = warehouse().data_version(source)
    return count, newest.isoformat() if newest else ""


def cached(function: Callable[..., T]) -> Callable[..., T]:
    """``st.cache_data`` for a page's read: arguments whose name starts with ``_`` are not
    hashed (the warehouse, a spec), the rest (source, dates, the data version) key it."""
    return st.cache_data(show_spinner=False, max_entries=256)(function)


def choose_source(label: str = "Source") -> SourceSpec | None:
    """The source the sidebar chose (kept across pages); ``None`` (and a message) without one."""
    loaded = warehouse().sources()
    names = sorted(set(specs()) | set(loaded))
    if not names:
        raise NoData("No source yet: add a spec under the sources folder and run `make demo`.")
    first = names.index(loaded[0]) if loaded else 0  # a source with data, when one has
    linked = _linked_source(names)  # ?source=... or the Airflow UI's ?dag_id=...
    if linked is not None and "source" not in st.session_state:
        first = names.index(linked)
    name = st.sidebar.selectbox(label, names, index=first, key="source")
    spec = specs().get(name)
    if spec is not None:
        st.sidebar.link_button("Runs in Airflow", f"{settings().airflow_url}/dags/{spec.dag_id}")
    if name not in specs():
        st.warning(f"Source {name} has partitions in the warehouse but no spec that loads.")
        return None
    return specs()[name]


def _linked_source(names: list[str]) -> str | None:
    """The source a link asked for: ``?source=<name>`` or ``?dag_id=<its DAG>``."""
    wanted = st.query_params.get("source")
    dag_id = st.query_params.get("dag_id")
    if dag_id:
        wanted = next((n for n, spec in specs().items() if spec.dag_id == dag_id), wanted)
    return wanted if wanted in names else None


@contextlib.contextmanager
def shown_errors() -> Iterator[None]:
    """Run a page: a missing or unreadable warehouse, a bad spec or any failure becomes a
    message on the page (the detail, with where, goes to the app's log)."""
    try:
        yield
    except NoData as exc:
        st.info(str(exc))
    except WarehouseUnavailable:
        log.exception("warehouse unavailable")
        st.error(
            "The warehouse cannot be reached. Check HARVEST_WAREHOUSE_URL (or run `make demo` "
            "for the embedded one); the app's log says where it looked and why it failed."
        )
    except WarehouseError:
        log.exception("warehouse read failed")
        st.error(
            "The warehouse could not be read (a table missing or of an older schema?). Run "
            "`python -m harvest warehouse migrate`; the app's log has the detail."
        )
    except SpecError as exc:
        log.exception("spec error")
        st.error(f"A source spec is not valid: {type(exc).__name__}; see the app's log.")
    except Exception as exc:  # a page never shows a traceback
        log.exception("page failed")
        st.error(f"This page failed ({type(exc).__name__}); the app's log has the detail.")


def plotly(figure: Any, key: str) -> None:
    """A Plotly figure, full width, keyed (tests find it by its key)."""
    st.plotly_chart(figure, key=key, width="stretch")
