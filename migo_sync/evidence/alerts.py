"""Alerts after a run: a generic JSON webhook, a Slack incoming webhook, e-mail over SMTP.

    [alerts]
    on_failure = true            # a mapping failed, or the run was interrupted
    rejects_over = 0             # more than this many rows rejected (unset: never)
    rejects_share_over = 0.05    # more than this share of the rows read rejected (unset: never)
    on_differences = true        # a reconciliation found differences (or could not be done)
    report_url = "https://etl.example.com/migo/{run_id}/report.html"   # optional; else the report's path

    [[alerts.targets]]
    name = "ops"                 # secrets: MIGO_SYNC_ALERTS_OPS_URL (or keyring 'alerts_ops.url')
    type = "slack"               # webhook | slack | email

    [[alerts.targets]]
    name = "controller"
    type = "email"
    host = "smtp.example.com"
    port = 587
    starttls = true
    sender = "migo-sync@example.com"
    to = ["controller@example.com"]
    username = "migo-sync"       # password: MIGO_SYNC_ALERTS_CONTROLLER_PASSWORD (or keyring)

Webhook URLs are secrets (a Slack URL is its own credential): they come from the environment or
the keyring like every other secret, and are redacted wherever they would be shown. An alert
that cannot be delivered is logged (and recorded in run_results.json) and never fails the run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from migo_sync.credentials import Credentials
from migo_sync.redact import redact

if TYPE_CHECKING:
    import smtplib

log = logging.getLogger("migo_sync.alerts")
TIMEOUT = 10.0


class AlertTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    type: Literal["webhook", "slack", "email"]
    host: str | None = None
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    sender: str = "migo-sync@localhost"
    to: list[str] = Field(default_factory=list)
    username: str | None = None


class AlertsConfig(BaseModel):
    """`[alerts]` in migo-sync.toml."""

    model_config = ConfigDict(extra="forbid")

    on_failure: bool = True
    rejects_over: int | None = Field(default=None, ge=0)
    rejects_share_over: float | None = Field(default=None, ge=0, le=1)
    on_differences: bool = True
    report_url: str | None = None
    targets: list[AlertTarget] = Field(default_factory=list)


def reasons(config: AlertsConfig, doc: dict[str, Any]) -> list[str]:
    """Why this run deserves an alert (empty: it does not). `doc` is run_results.json."""
    found: list[str] = []
    mappings = doc.get("mappings") or []
    if config.on_failure:
        if doc.get("status") == "interrupted":
            found.append(f"the run was interrupted: {doc.get('reason')}")
        found += [f"{m['name']} failed: {m.get('error')}" for m in mappings if m.get("status") == "failed"]
    rejected = sum(int(m.get("rows_rejected") or 0) for m in mappings)
    read = sum(int(m.get("rows_read") or 0) for m in mappings)
    if config.rejects_over is not None and rejected > config.rejects_over:
        found.append(f"{rejected:,} rows rejected (alert above {config.rejects_over:,})")
    elif config.rejects_share_over is not None and read and rejected / read > config.rejects_share_over:
        found.append(f"{rejected:,} of {read:,} rows rejected ({rejected / read:.1%}, "
                     f"alert above {config.rejects_share_over:.1%})")
    if config.on_differences:
        for rec in doc.get("reconciliation") or []:
            if rec.get("error"):
                found.append(f"reconciliation of {rec.get('mapping')} could not be done: {rec['error']}")
            elif rec.get("differences"):
                found.append(f"reconciliation of {rec.get('mapping')} ({rec.get('system')}): "
                             f"{len(rec['differences']):,} difference(s)")
    return found


def message(config: AlertsConfig, doc: dict[str, Any], why: list[str]) -> tuple[str, str]:
    """(subject, text body): the run's summary and where its report is."""
    run_id = str(doc.get("run_id"))
    subject = f"migo-sync run {run_id}: {doc.get('status')}"
    report = (config.report_url.format(run_id=run_id) if config.report_url
              else (doc.get("artifacts") or {}).get("report"))
    lines = [subject, "", *(f"- {w}" for w in why), "", "mapping  status  read  written  rejected"]
    lines += [f"{m['name']}  {m['status']}  {m.get('rows_read', 0):,}  {m.get('rows_written', 0):,}  "
              f"{m.get('rows_rejected', 0):,}" for m in doc.get("mappings") or []]
    if report:
        lines += ["", f"report: {report}"]
    return subject, "\n".join(lines)


def send_alerts(config: AlertsConfig, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Send the alert to every target when the run deserves one. Returns one delivery record per
    target ({target, type, ok, error}); never raises."""
    why = reasons(config, doc)
    if not why or not config.targets:
        return []
    subject, body = message(config, doc, why)
    deliveries = []
    for target in config.targets:
        try:
            _deliver(target, doc, subject, body, why)
        except Exception as exc:  # an alert must never fail the run: say so and go on
            error = redact(f"{type(exc).__name__}: {exc}")
            log.warning("alert to %s (%s) could not be delivered: %s", target.name, target.type, error,
                        extra={"event": "alert", "target": target.name, "ok": False, "error": error})
            deliveries.append({"target": target.name, "type": target.type, "ok": False, "error": error})
        else:
            log.info("alert sent to %s (%s)", target.name, target.type,
                     extra={"event": "alert", "target": target.name, "ok": True})
            deliveries.append({"target": target.name, "type": target.type, "ok": True})
    return deliveries


def _deliver(target: AlertTarget, doc: dict[str, Any], subject: str, body: str, why: list[str]) -> None:
    secrets = Credentials(f"alerts_{target.name}")
    if target.type == "email":
        _email(target, secrets, subject, body)
        return
    url = secrets.require("url")
    if target.type == "slack":
        payload: dict[str, Any] = {"text": body}
    else:
        payload = {"event": "migo-sync.run", "subject": subject, "reasons": why,
                   "report": (doc.get("artifacts") or {}).get("report"), "run": doc}
    import httpx  # here, not at the top: `migo_sync.config` imports this module on every command

    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        response = client.post(url, json=payload)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code} from the {target.type} receiver")


def _email(target: AlertTarget, secrets: Credentials, subject: str, body: str) -> None:
    if not target.host or not target.to:
        raise ValueError("an email target needs host and to")
    import smtplib  # here, not at the top: only a run that sends mail needs it
    import ssl
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = subject, target.sender, ", ".join(target.to)
    mail.set_content(body)
    smtp: smtplib.SMTP = (smtplib.SMTP_SSL(target.host, target.port, timeout=TIMEOUT,
                                           context=ssl.create_default_context()) if target.ssl
                          else smtplib.SMTP(target.host, target.port, timeout=TIMEOUT))
    with smtp:
        if target.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if target.username:
            smtp.login(target.username, secrets.require("password"))
        smtp.send_message(mail)
