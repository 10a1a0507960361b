"""harvest.logjson and its settings: the JSON line of a record, and HARVEST_LOG_FORMAT's values."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import pytest

from harvest.config.settings import Settings
from harvest.logjson import HarvestJsonFormatter, airflow_task_fields, log_json_to_stream


def test_text_is_the_default_and_a_wrong_format_is_named() -> None:
    settings = Settings.from_env({"HARVEST_HOME": "/tmp/h"})
    assert settings.log_format == "text"
    assert settings.json_log_dir == Path("/tmp/h/logs")
    on = Settings.from_env({"HARVEST_LOG_FORMAT": " JSON ", "HARVEST_LOG_DIR": "/var/log/h"})
    assert (on.log_format, on.json_log_dir) == ("json", Path("/var/log/h"))
    with pytest.raises(ValueError, match=r"HARVEST_LOG_FORMAT='xml': expected one of text, json"):
        Settings.from_env({"HARVEST_LOG_FORMAT": "xml"})


def test_a_record_with_an_exception_and_extra_fields_is_one_json_line() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(HarvestJsonFormatter("crawl", {"source": "demo", "date": "2026-03-02"}))
    logger = logging.getLogger("harvest.test_logjson")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("page\nfailed")
        except RuntimeError:
            logger.exception("fetch of %s failed", "/listings/1", extra={"url": "/listings/1"})
    finally:
        logger.removeHandler(handler)
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert list(record)[:4] == ["level", "logger", "message", "component"]
    assert record["level"] == "error" and record["message"] == "fetch of /listings/1 failed"
    assert record["timestamp"].endswith("+00:00")
    assert (record["source"], record["date"], record["url"]) == (
        "demo",
        "2026-03-02",
        "/listings/1",
    )
    assert "RuntimeError: page\nfailed" in record["exc_info"]


def test_task_fields_come_from_airflows_context_variables() -> None:
    env = {"AIRFLOW_CTX_DAG_ID": "d", "AIRFLOW_CTX_DAG_RUN_ID": "r", "AIRFLOW_CTX_TRY_NUMBER": "3"}
    assert airflow_task_fields(env) == {"dag_id": "d", "run_id": "r", "try_number": 3}
    assert airflow_task_fields({}) == {}


def test_a_second_call_replaces_the_first_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    # log_json_to_stream also turns the stream handlers of loggers that do not propagate to
    # its stream: put them back after, so later tests' loggers do not write into this test's
    own = [
        (h, h.stream, h.formatter)
        for lg in list(logging.root.manager.loggerDict.values())
        if isinstance(lg, logging.Logger) and not lg.propagate
        for h in lg.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    first, second = io.StringIO(), io.StringIO()
    try:
        log_json_to_stream("app", stream=first)
        handler = log_json_to_stream("app", stream=second)
        assert root.handlers == [handler]
        logging.getLogger("harvest.app").warning("once")
        assert first.getvalue() == "" and json.loads(second.getvalue())["message"] == "once"
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in before:
            root.addHandler(h)
        for h, stream, formatter in own:
            with contextlib.suppress(AttributeError):  # a read-only stream was never changed
                h.setStream(stream)
            h.setFormatter(formatter)
