"""The supervisor's alerts as an Airflow notifier: always the task log; a Slack incoming webhook
and/or e-mail when their Airflow Connections exist.

====================  ===================================================================
conn id               URI
====================  ===================================================================
harvest_slack         the Slack incoming-webhook URL, e.g. ``https://hooks.slack.com/services/T/B/X``
harvest_smtp          ``smtp://user:password@host:587?from=harvest@x.org&to=a@x.org,b@x.org``
                      (port 587: STARTTLS; 465: ``smtps://``; user/password optional)
====================  ===================================================================

A delivery that fails is logged with the reason and does not stop the others (the log always
has the alert). Used by ``harvest_airflow.supervisor``; also usable as a DAG or task callback
(``on_failure_callback=HarvestAlertNotifier(message="...")``), and through
:func:`deadline_missed` as the source DAGs' Deadline Alert callback (``HARVEST_DEADLINE_ALERTS``).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from airflow.sdk import BaseNotifier

from harvest.text import redact_url
from harvest_airflow.hooks import HarvestHook

log = logging.getLogger(__name__)

SLACK_CONN_ID = "harvest_slack"
SMTP_CONN_ID = "harvest_smtp"


class HarvestAlertNotifier(BaseNotifier):
    """Send ``message`` (templated) to the log, Slack and e-mail, whichever are configured."""

    template_fields: Sequence[str] = ("message", "subject")

    def __init__(
        self,
        message: str,
        subject: str = "[harvest] alert",
        slack_conn_id: str = SLACK_CONN_ID,
        smtp_conn_id: str = SMTP_CONN_ID,
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.message = message
        self.subject = subject
        self.slack_conn_id = slack_conn_id
        self.smtp_conn_id = smtp_conn_id
        self.timeout = timeout

    def notify(self, context: Any) -> None:
        """Deliver; returns the channels that got it in ``self.delivered`` (for callers/tests)."""
        self.delivered = ["log"]
        log.warning("%s", self.message)
        slack = HarvestHook().connection_uri(self.slack_conn_id)
        if slack:
            try:
                send_slack(slack, self.message, self.timeout)
                self.delivered.append("slack")
            except httpx.HTTPError as exc:
                log.error("alert not sent to Slack (%s): %s", redact_url(slack), exc)
        smtp = HarvestHook().connection_uri(self.smtp_conn_id)
        if smtp:
            try:
                send_email(smtp, self.subject, self.message, self.timeout)
                self.delivered.append("email")
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                log.error("alert not e-mailed (%s): %s", redact_url(smtp), exc)


async def deadline_missed(
    source: str, max_duration_minutes: int, context: dict[str, Any] | None = None
) -> list[str]:
    """Deadline Alert callback of a source DAG (an Airflow ``AsyncCallback``, run by the
    triggerer): the run is still going ``max_duration_minutes`` (the spec's
    ``sla.max_duration_minutes``) after it was queued. Alerts through
    :class:`HarvestAlertNotifier` (its blocking delivery in a worker thread); ``context`` is the
    simple context Airflow 3.3 passes (``dag_run`` as JSON, ``deadline``). Returns the channels
    that got the alert."""
    context = context or {}
    run = context.get("dag_run") or {}
    deadline = (context.get("deadline") or {}).get("deadline_time")
    message = (
        f"Source {source}: run {run.get('run_id', '?')} of {run.get('dag_id', '?')} has not "
        f"finished {max_duration_minutes} min after it was queued (sla.max_duration_minutes; "
        f"deadline {deadline or '?'}): Airflow Deadline Alert"
    )
    notifier = HarvestAlertNotifier(message=message, subject=message[:120])
    await asyncio.to_thread(notifier.notify, context)
    return notifier.delivered


def send_slack(webhook_url: str, text: str, timeout: float = 10.0) -> None:
    """POST ``{"text": ...}`` to a Slack incoming webhook; raises httpx.HTTPError on failure."""
    response = httpx.post(webhook_url, json={"text": text}, timeout=timeout)
    response.raise_for_status()


def send_email(uri: str, subject: str, text: str, timeout: float = 10.0) -> None:
    """Send one plain-text mail through the SMTP server of ``uri`` (see the module docstring)."""
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    sender = (query.get("from") or [""])[0]
    recipients = [r for value in query.get("to", []) for r in value.split(",") if r]
    if not sender or not recipients:
        raise ValueError(f"{redact_url(uri)}: needs ?from=...&to=... in the connection URI")
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = subject, sender, ", ".join(recipients)
    mail.set_content(text)
    host = parts.hostname or "localhost"
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(host, parts.port or 25, timeout=timeout) as server:
        if parts.scheme != "smtps" and parts.port == 587:
            server.starttls()
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(mail)
