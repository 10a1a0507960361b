"""Task logs written to and read back from a real Elasticsearch, when one is given.

No Elasticsearch can be installed on the machines this project runs on (no package in the
registries it reaches), so this runs only with ``HARVEST_TEST_ELASTICSEARCH_URL`` set (for
example ``http://127.0.0.1:9200`` of ``docker run elasticsearch:9.1.0``) and is skipped
otherwise, in CI too. What it checks without Elasticsearch is covered by
tests/unit/test_deploy_compose.py (the records the configured writer produces) and
tests/e2e/test_production_e2e.py (the UI's Kibana link of a try).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

URL = os.environ.get("HARVEST_TEST_ELASTICSEARCH_URL", "")

pytestmark = pytest.mark.skipif(
    not URL, reason="HARVEST_TEST_ELASTICSEARCH_URL is not set (no Elasticsearch here)"
)


class TI:
    dag_id, task_id, run_id, map_index, try_number = "harvest_demo", "load", "manual__es", -1, 1


def test_upload_then_search_and_read_back(tmp_path: Path) -> None:
    import elasticsearch

    from harvest_airflow.task_logs import HarvestElasticsearchRemoteLogIO

    index = f"harvest-test-logs-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "attempt=1.log"
    log.write_text(
        '{"timestamp":"2026-03-02T02:00:01.5Z","level":"info","event":"Loading demo"}\n'
        '{"timestamp":"2026-03-02T02:00:02.5Z","level":"info","event":"Loaded 40 rows"}\n'
    )
    remote = HarvestElasticsearchRemoteLogIO(
        host=URL,
        base_log_folder=tmp_path,
        target_index=index,
        write_to_es=True,
        json_format=True,
        log_id_template="{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}",
    )
    client = elasticsearch.Elasticsearch(URL)
    try:
        remote.upload(log, TI())
        client.indices.refresh(index=index)
        log_id = "harvest_demo-load-manual__es--1-1"
        deadline = time.monotonic() + 30
        hits: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(hits) < 2:
            found = client.search(index=index, query={"match_phrase": {"log_id": log_id}})
            hits = [hit["_source"] for hit in found["hits"]["hits"]]
            time.sleep(1)
        assert len(hits) == 2, hits
        for hit in sorted(hits, key=lambda h: int(str(h["offset"]))):
            assert hit["dag_id"] == "harvest_demo" and hit["task_id"] == "load"
            assert hit["run_id"] == "manual__es" and hit["try_number"] == 1
        assert {hit["message"] for hit in hits} == {"Loading demo", "Loaded 40 rows"}
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)
