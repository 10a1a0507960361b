"""Provision Kibana for Harvest's logs: import the data views and the saved searches.

Run once by the compose service ``kibana-setup`` (and safe to run again: objects are
overwritten). Waits for Kibana's ``/api/status`` to report ``available``, then sends
each file of :data:`OBJECT_FILES` (beside this file) to the saved objects import API
(``POST /api/saved_objects/_import?overwrite=true``), one request per file.

``harvest-task-logs.ndjson``:

- data view ``airflow-logs`` over the index pattern ``airflow-logs*`` (``[elasticsearch]
  target_index``), time field ``@timestamp``;
- saved search ``harvest-task-logs`` "Harvest task logs" with the columns dag_id, task_id,
  run_id, try_number, level and message, newest first. Airflow's ``[elasticsearch] frontend``
  link opens it filtered on one try's ``log_id``.

``harvest-component-logs.ndjson`` (the indices deploy/logstash/pipeline/harvest.conf writes):

- data view ``harvest-logs`` over ``harvest-logs-*`` (``harvest-logs-<component>-<day>``), time
  field ``@timestamp``;
- saved search ``harvest-component-logs`` "Harvest component logs" with the columns component,
  level, source, date, dag_id, run_id and message, newest first.

Why a script: Kibana, unlike Grafana, has no file-based provisioning for saved objects; the
import API is the documented way. Standard library only, so any Python image can run it.

Environment: ``KIBANA_URL`` (default ``http://kibana:5601``), ``KIBANA_SETUP_TIMEOUT`` seconds
(default 300). Exit status 0 when every object was imported; otherwise 1 with the reason
(Kibana unreachable, HTTP error, or the import's per-object errors) on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

OBJECT_FILES = (
    Path(__file__).with_name("harvest-task-logs.ndjson"),
    Path(__file__).with_name("harvest-component-logs.ndjson"),
)


def wait_for_kibana(base_url: str, timeout: float) -> None:
    """Return once ``GET /api/status`` says ``available``; raise ``TimeoutError`` otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/api/status", timeout=10) as response:  # noqa: S310
                status = json.load(response)
            level = status.get("status", {}).get("overall", {}).get("level")
            if level == "available":
                return
            last = f"overall status {level!r}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(3)
    raise TimeoutError(f"Kibana at {base_url} not available after {timeout:.0f} s: {last}")


def import_objects(base_url: str, ndjson: bytes, filename: str) -> dict[str, Any]:
    """POST ``ndjson`` to the import API; return Kibana's answer, raise on any failure."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode(),
            b"Content-Type: application/ndjson\r\n\r\n",
            ndjson,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    request = urllib.request.Request(  # noqa: S310 - the configured Kibana URL
        f"{base_url}/api/saved_objects/_import?overwrite=true",
        data=body,
        method="POST",
        headers={
            "kbn-xsrf": "harvest-kibana-setup",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            answer: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise RuntimeError(f"{request.full_url} -> HTTP {exc.code}: {detail}") from exc
    if not answer.get("success"):
        raise RuntimeError(f"Kibana refused {filename}: {json.dumps(answer.get('errors'))[:1000]}")
    return answer


def main() -> int:
    base_url = os.environ.get("KIBANA_URL", "http://kibana:5601").rstrip("/")
    timeout = float(os.environ.get("KIBANA_SETUP_TIMEOUT", "300"))
    try:
        wait_for_kibana(base_url, timeout)
        imported = sum(
            int(import_objects(base_url, path.read_bytes(), path.name).get("successCount", 0))
            for path in OBJECT_FILES
        )
    except (TimeoutError, RuntimeError, OSError) as exc:
        print(f"kibana-setup: {exc}", file=sys.stderr)
        return 1
    print(f"kibana-setup: imported {imported} objects into {base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
