"""GET /metrics: the alerts service in Prometheus' text format.

Open alerts are counted in the database at each scrape, so the number is right
whichever process or restart stored them. Like /healthz, this route stays
exempt from any authentication added later: monitoring must reach it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from sqlalchemy import func, select

from coldchain.alerting import Status
from coldchain.contract import Severity
from coldchain_alerts.api.deps import SessionDep
from coldchain_alerts.bodies import LimitedRoute
from coldchain_alerts.models import Alert, InfluxOutbox, PartnerDelivery
from coldchain_alerts.outbox import count_dead_letters

router = APIRouter(tags=["operations"], route_class=LimitedRoute)
#: Why the service refuses a request to protect itself (label of requests_refused).
REFUSALS = ("body_too_large", "login_throttled", "partner_key_throttled")

#: Webhook states the gauge counts: those an operator watches.
WATCHED_WEBHOOKS = ("pending", "failed")


class AlertsMetrics:
    """The metrics of one application; its own registry, so tests can build many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "coldchain_alerts_events",
            "Alert events applied to the database (redeliveries included).",
            registry=self.registry,
        )
        self.open = Gauge(
            "coldchain_alerts_open",
            "Alerts nobody has acknowledged yet, by severity (counted at scrape time).",
            ["severity"],
            registry=self.registry,
        )
        self.active = Gauge(
            "coldchain_alerts_active",
            "Alerts whose condition is present now, by severity (counted at scrape time).",
            ["severity"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "coldchain_alerts_leader",
            "1 while this instance leads: it escalates and runs the scheduled jobs.",
            registry=self.registry,
        )
        self.refused = Counter(
            "coldchain_alerts_events_refused",
            "Alert events that could not be stored (malformed, or refused by the database); "
            "each is kept in the table refused_event and the audit log.",
            registry=self.registry,
        )
        self.notifications = Counter(
            "coldchain_alerts_notifications",
            "Messages sent to contacts, by channel and outcome (sent, failed).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.audit_ok = Gauge(
            "coldchain_alerts_audit_chain_ok",
            "1 when the last check of the audit-log chain found it intact, else 0.",
            registry=self.registry,
        )
        self.requests_refused = Counter(
            "coldchain_alerts_requests_refused",
            "HTTP requests refused to protect the service, by reason: body_too_large (413), "
            "login_throttled and partner_key_throttled (429).",
            ["reason"],
            registry=self.registry,
        )
        for reason in REFUSALS:
            self.requests_refused.labels(reason=reason)
        self.outbox = Gauge(
            "coldchain_alerts_influx_outbox",
            "Points waiting to be copied to InfluxDB (counted at scrape time).",
            registry=self.registry,
        )
        self.influx_refused = Counter(
            "coldchain_alerts_influx_refused",
            "Points InfluxDB refused (not: was unavailable for), set aside in the table "
            "influx_dead_letter so that the points behind them are written.",
            registry=self.registry,
        )
        self.certificates_refused = Counter(
            "coldchain_alerts_certificates_refused",
            "Delivery certificates posted for partners and refused (not final, not signed "
            "with a key of the hub's key list, changed, or no key list configured).",
            registry=self.registry,
        )
        self.partner_webhooks = Gauge(
            "coldchain_alerts_partner_webhooks",
            "Deliveries by the state of their partner webhook: pending (retrying included), "
            "failed (gave up or refused; `coldchain-alerts partner list`), counted at scrape "
            "time.",
            ["state"],
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "coldchain_alerts_influx_dead_letters",
            "Points InfluxDB refused that wait in influx_dead_letter for an operator to "
            "replay them (counted at scrape time).",
            registry=self.registry,
        )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, session: SessionDep) -> Response:
    collected: AlertsMetrics = request.app.state.service.metrics
    query = select(Alert.severity, func.count()).where(Alert.status == Status.OPEN)
    counts = {severity: n for severity, n in session.execute(query.group_by(Alert.severity))}
    for severity in Severity:
        collected.open.labels(severity=severity.value).set(counts.get(severity.value, 0))
    query = select(Alert.severity, func.count()).where(
        Alert.active.is_(True), Alert.status != Status.CLOSED
    )
    present = {severity: n for severity, n in session.execute(query.group_by(Alert.severity))}
    for severity in Severity:
        collected.active.labels(severity=severity.value).set(present.get(severity.value, 0))
    collected.outbox.set(session.scalar(select(func.count()).select_from(InfluxOutbox)) or 0)
    collected.dead_letters.set(count_dead_letters(session))
    query = select(PartnerDelivery.webhook_state, func.count()).where(
        PartnerDelivery.webhook_state.in_(WATCHED_WEBHOOKS)
    )
    webhooks = {
        state: n for state, n in session.execute(query.group_by(PartnerDelivery.webhook_state))
    }
    for state in WATCHED_WEBHOOKS:
        collected.partner_webhooks.labels(state=state).set(webhooks.get(state, 0))
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)
