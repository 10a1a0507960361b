"""One exception root: every exception class Harvest defines derives from HarvestError, says
whether a retry may help, and keeps the builtin base its callers catch."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil

import pytest
from scrapy.exceptions import IgnoreRequest

import harvest
from harvest.errors import HarvestError

# What a retry cannot fix: the task fails at once (harvest_airflow.errors.translate_errors).
NOT_RETRYABLE = {
    "harvest.cleaning.near.TrainingPairsError",
    "harvest.config.credentials.LoginFailed",
    "harvest.config.settings.StorageNotShared",
    "harvest.config.spec.base.SpecError",
    "harvest.crawler.limits.PageTooLarge",
    "harvest.crawler.spiders.SpiderLoadError",
    "harvest.currency.RatesError",
    "harvest.features.columns.FeatureSpecError",
    "harvest.fields.registry.UnknownFieldKind",
    "harvest.learning.patch.SpecPatchError",
    "harvest.learning.repair.RepairError",
    "harvest.loading.warnings.CriticalWarning",
    "harvest.scraping.past.PastNotObservable",
    "harvest.selection.WrongPageType",
    "harvest.storage.dask_tasks.DaskWorkerKilled",
    "harvest.storage.warehouse.errors.FrameError",
    "harvest.training.data.TrainingDataError",
    "harvest.training.scoring.NoChampion",
    "harvest.training.tracking.ModelUnavailable",
    "harvest.validation.report.ValidationFailed",
}

# Control-flow signals, not errors: BaseException subclasses (as GeneratorExit is) that must pass
# every ``except Exception`` they cross; they never reach a task, so they carry no ``retryable``.
CONTROL_FLOW = {
    "harvest.crawler.replay_crawler.ReplayStopped",
}


def harvest_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of ``harvest`` (all modules imported)."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(harvest.__path__, "harvest."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_harvest_exception_derives_from_harvest_error() -> None:
    found = harvest_exceptions()
    assert len(found) >= 25, sorted(found)  # the walk found the package's exceptions
    for name in CONTROL_FLOW:
        signal = found.pop(name)
        assert not issubclass(signal, Exception), f"{name} is caught by except Exception"
    strays = sorted(name for name, cls in found.items() if not issubclass(cls, HarvestError))
    assert not strays, f"exception classes not derived from harvest.errors.HarvestError: {strays}"
    wrong = {
        name: cls.retryable
        for name, cls in found.items()
        if name != "harvest.errors.HarvestError" and cls.retryable is (name in NOT_RETRYABLE)
    }
    assert not wrong, f"retryable differs from what a retry can fix: {wrong}"
    assert set(found) >= NOT_RETRYABLE, NOT_RETRYABLE - set(found)


def test_builtin_bases_that_callers_catch_are_kept() -> None:
    from harvest.config.spec import SpecError
    from harvest.crawler.outcomes import PageFailed
    from harvest.fields import UnknownFieldKind
    from harvest.storage.warehouse.errors import FrameError, WarehouseError
    from harvest.validation.report import ValidationFailed

    assert issubclass(SpecError, ValueError) and issubclass(FrameError, ValueError)
    assert issubclass(UnknownFieldKind, KeyError) and issubclass(PageFailed, IgnoreRequest)
    assert issubclass(FrameError, WarehouseError) and issubclass(ValidationFailed, RuntimeError)
    with pytest.raises(KeyError):
        raise UnknownFieldKind("weight")
    assert str(SpecError("demo.yaml", "detail.key", "not a field")) == (
        "demo.yaml: detail.key: not a field"
    )


def test_retryable_is_a_class_default_an_instance_may_override() -> None:
    from harvest.loading import LoadError
    from harvest.scraping.runner import CrawlError

    assert HarvestError("x").retryable is True
    assert LoadError("rows differ").retryable is True
    assert LoadError("wiring", retryable=False).retryable is False
    assert LoadError.retryable is True  # the override stays on the instance
    crawl = CrawlError("demo", dt.date(2026, 3, 14), 1, [], "failed")
    assert crawl.retryable is True and "exit code 1" in str(crawl)
