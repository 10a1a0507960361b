"""deploy/kibana/setup.py and the saved objects it imports.

Kibana cannot run here (no package for it in the registries this project reaches), so the
script is run against a small HTTP server that answers as Kibana's status and import APIs do
and keeps what it receives; the objects are checked against the compose file's log settings.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_deploy_files import ROOT, environment_of, services

SETUP = ROOT / "deploy" / "kibana" / "setup.py"
OBJECTS = ROOT / "deploy" / "kibana" / "harvest-task-logs.ndjson"
COLUMNS = ["dag_id", "task_id", "run_id", "try_number", "level", "message"]


def objects() -> dict[str, dict[str, Any]]:
    lines = OBJECTS.read_text(encoding="utf-8").splitlines()
    return {obj["type"]: obj for obj in map(json.loads, lines)}


def test_saved_objects_match_the_log_settings() -> None:
    env = environment_of(services()["airflow-worker"])
    view, search = objects()["index-pattern"], objects()["search"]
    assert view["attributes"]["title"] == env["AIRFLOW__ELASTICSEARCH__INDEX_PATTERNS"]
    assert env["AIRFLOW__ELASTICSEARCH__TARGET_INDEX"].startswith(
        view["attributes"]["title"].rstrip("*")
    )
    assert search["attributes"]["columns"] == COLUMNS
    assert f"/app/discover#/view/{search['id']}?" in env["AIRFLOW__ELASTICSEARCH__FRONTEND"]
    source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    [reference] = search["references"]
    assert reference == {
        "type": "index-pattern",
        "id": view["id"],
        "name": source["indexRefName"],
    }
    # the fields the columns and the time field name are written by harvest_airflow.task_logs
    from harvest_airflow.task_logs import with_task_fields

    class TI:
        dag_id, task_id, run_id, map_index, try_number = "d", "t", "r", -1, 1

    [record] = with_task_fields([{"timestamp": "x", "level": "info", "event": "e"}], TI())
    assert set(COLUMNS) | {view["attributes"]["timeFieldName"]} <= set(record)


class FakeKibana:
    """Answers GET /api/status (starting, then available) and POST .../_import."""

    def __init__(self, success: bool = True) -> None:
        self.imports: list[tuple[dict[str, str], bytes]] = []
        self.status_calls = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.status_calls += 1
                level = "available" if fake.status_calls > 1 else "unavailable"
                self._json(200, {"status": {"overall": {"level": level}}})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.imports.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if success:
                    self._json(200, {"success": True, "successCount": 2, "errors": []})
                else:
                    errors = [{"id": "harvest-task-logs", "error": {"type": "missing_references"}}]
                    self._json(200, {"success": False, "successCount": 1, "errors": errors})

            def _json(self, code: int, payload: Any) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(payload).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def kibana(request: pytest.FixtureRequest) -> Iterator[FakeKibana]:
    fake = FakeKibana(success=getattr(request, "param", True))
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def run_setup(url: str) -> subprocess.CompletedProcess[str]:
    env = {"KIBANA_URL": url, "KIBANA_SETUP_TIMEOUT": "30", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, str(SETUP)], env=env, capture_output=True, text=True, timeout=60
    )


def test_setup_waits_for_kibana_and_imports_both_objects(kibana: FakeKibana) -> None:
    result = run_setup(kibana.url)
    assert result.returncode == 0, result.stderr
    assert kibana.status_calls >= 2, "the script must wait until Kibana is available"
    files = [OBJECTS, OBJECTS.with_name("harvest-component-logs.ndjson")]
    assert len(kibana.imports) == len(files), "one import per saved-objects file"
    for (headers, body), path in zip(kibana.imports, files, strict=True):
        assert headers["kbn-xsrf"]
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body
        )
        [part] = list(message.iter_parts())  # type: ignore[attr-defined]
        assert part.get_filename() == path.name
        assert part.get_payload(decode=True) == path.read_bytes()
    assert "imported 4 objects" in result.stdout


@pytest.mark.parametrize("kibana", [False], indirect=True)
def test_setup_fails_with_kibanas_errors(kibana: FakeKibana) -> None:
    result = run_setup(kibana.url)
    assert result.returncode == 1
    assert "missing_references" in result.stderr and "refused" in result.stderr


def test_setup_names_the_url_when_kibana_never_answers(tmp_path: Path) -> None:
    env = {"KIBANA_URL": "http://127.0.0.1:9", "KIBANA_SETUP_TIMEOUT": "4", "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, str(SETUP)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "http://127.0.0.1:9 not available after 4 s" in result.stderr
