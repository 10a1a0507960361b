"""Which requests of a page leave this machine (scripts/offline_browser.py, shared by the docs
test and ``make app-screenshots``)."""

from __future__ import annotations

from scripts.offline_browser import off_machine


def test_only_requests_to_another_host_leave_the_machine() -> None:
    urls = [
        "http://127.0.0.1:8001/assets/stylesheets/main.css",
        "ws://127.0.0.1:8501/_stcore/stream",
        "http://localhost:8000/static/vendor/bootstrap.min.css",
        "file:///tmp/data_docs/index.html",
        "data:image/png;base64,AAAA",
        "blob:http://127.0.0.1:8501/5c1e",
        "https://cdn.jsdelivr.net/npm/bootstrap@4.3.1/dist/css/bootstrap.min.css",
        "wss://example.org/socket",
        "https://fonts.googleapis.com/css?family=Roboto",
    ]
    assert off_machine(urls) == urls[-3:]
