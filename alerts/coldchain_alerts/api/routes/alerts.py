"""/api/v1/alerts: find alerts, read one with its timeline, acknowledge, record the
decision, close."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from coldchain.alerting import MAX_TEXT, Closing, Decision, ProductDecision, Standing, Status
from coldchain_alerts import lifecycle, listing
from coldchain_alerts.access import Access
from coldchain_alerts.api.deps import (
    ERRORS,
    NO_NUL,
    Actor,
    Id,
    Problem,
    Reader,
    SessionDep,
    TokenRoute,
    UtcTime,
    WriteSessionDep,
    acting_at,
)
from coldchain_alerts.models import Alert

router = APIRouter(
    prefix="/api/v1/alerts", tags=["alerts"], responses=ERRORS, route_class=TokenRoute
)


#: Most alerts one request returns; bounded so the database is never handed an absurd LIMIT.
MAX_LIMIT = 10_000
_ENDS = "A time beyond 0001-01-01 or 9999-12-31 in UTC counts as that end of the calendar."
#: Answers of the workflow routes besides 200.
_WORKFLOW_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert", "model": Problem},
    409: {"description": "Not allowed in the alert's state; `detail` says why", "model": Problem},
}


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    site: str
    asset: str | None
    sensor: str | None
    gateway: str | None
    rule: str
    severity: str
    status: str
    standing: Standing = Field(
        description="What the alert asks of people now: unacknowledged, decision_due "
        "(critical, acknowledged, cause, corrective action or product decision missing), "
        "acknowledged, closed. Every alert that is not closed is open work."
    )
    active: bool = Field(description="The condition is present now.")
    occurrences: int
    opened_at: datetime = Field(description="Reading time the condition began (UTC).")
    raised_at: datetime | None
    cleared_at: datetime | None
    value_c: float | None = Field(description="The latest reading the rules reported, °C.")
    value_at: datetime | None = Field(description="Reading time of value_c (UTC).")
    peak_c: float | None
    limit_c: float | None
    regulatory_limit_c: float | None
    duration_s: float | None = Field(
        description="From the start to the clearing, or while present to value_at, seconds."
    )
    degree_minutes: float | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledge_comment: str | None
    closed_at: datetime | None
    closed_by: str | None
    cause: str | None
    corrective_action: str | None
    product_decision: str | None
    decided_at: datetime | None
    decided_by: str | None
    close_comment: str | None
    closed_while_active: bool = Field(
        description="Closed while the condition was present; close_comment says why."
    )
    escalation_level: int = Field(description="The highest escalation level told so far.")


class TimelineStep(BaseModel):
    seq: int = Field(description="The audit-log entry.")
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class AlertDetail(AlertOut):
    timeline: list[TimelineStep]


class Acknowledgement(BaseModel):
    comment: str = Field(
        min_length=1, max_length=MAX_TEXT, pattern=NO_NUL, description="What you are doing."
    )


class DecisionIn(BaseModel):
    cause: str = Field(default="", max_length=MAX_TEXT, pattern=NO_NUL)
    corrective_action: str = Field(default="", max_length=MAX_TEXT, pattern=NO_NUL)
    product_decision: ProductDecision | None = None


class ClosingIn(DecisionIn):
    comment: str = Field(default="", max_length=MAX_TEXT, pattern=NO_NUL)
    while_active: StrictBool = Field(
        default=False,
        description="Close although the condition is still present; `comment` says why.",
    )


@router.get("", response_model=list[AlertOut])
def list_alerts(
    session: SessionDep,
    user: Reader,
    status: Status | None = None,
    site: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    asset: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    active: bool | None = None,
    since: Annotated[UtcTime | None, Query(description=f"Began at or after. {_ENDS}")] = None,
    until: Annotated[UtcTime | None, Query(description=f"Began before. {_ENDS}")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
    offset: Annotated[int, Query(ge=0, le=listing.MAX_OFFSET)] = 0,
) -> list[Alert]:
    """Alerts in the inbox's order: critical first, then by standing (unacknowledged,
    decision_due, acknowledged, closed), then newest first."""
    filters = listing.Filters(status, site, asset, active, since, until, sites=user.visible())
    return listing.search(session, filters, limit, offset)


@router.get(
    "/{alert_id}",
    response_model=AlertDetail,
    responses={404: {"description": "No such alert", "model": Problem}},
)
def get_alert(alert_id: Id, session: SessionDep, user: Reader) -> dict[str, Any]:
    alert = _get(session, alert_id, user)
    out = AlertOut.model_validate(alert).model_dump()
    steps = [TimelineStep(**vars(step)) for step in listing.timeline(session, alert_id)]
    return out | {"timeline": steps}


@router.post("/{alert_id}/acknowledge", response_model=AlertOut, responses=_WORKFLOW_ERRORS)
def acknowledge(
    alert_id: Id, body: Acknowledgement, session: WriteSessionDep, user: Actor
) -> Alert:
    _get(session, alert_id, user, acting=True)
    alert = lifecycle.acknowledge(session, alert_id, user.username, body.comment)
    session.commit()
    return alert


@router.post("/{alert_id}/decision", response_model=AlertOut, responses=_WORKFLOW_ERRORS)
def decide(alert_id: Id, body: DecisionIn, session: WriteSessionDep, user: Actor) -> Alert:
    """Record cause, corrective action and product decision of an acknowledged alert,
    also while the condition is present; fields left empty keep what was recorded."""
    _get(session, alert_id, user, acting=True)
    decision = Decision(body.cause, body.corrective_action, body.product_decision)
    alert = lifecycle.decide(session, alert_id, user.username, decision)
    session.commit()
    return alert


@router.post("/{alert_id}/close", response_model=AlertOut, responses=_WORKFLOW_ERRORS)
def close(alert_id: Id, body: ClosingIn, session: WriteSessionDep, user: Actor) -> Alert:
    _get(session, alert_id, user, acting=True)
    closing = Closing(
        body.cause,
        body.corrective_action,
        body.product_decision,
        body.comment,
        body.while_active,
    )
    alert = lifecycle.close(session, alert_id, user.username, closing)
    session.commit()
    return alert


def _get(session: Session, alert_id: int, user: Access, acting: bool = False) -> Alert:
    """The alert, if the caller sees its site (else 404, as for no alert); `acting`: the
    caller's role there may act on it (else 403)."""
    alert = lifecycle.get(session, alert_id)
    if not user.sees(alert.site):
        raise lifecycle.AlertNotFound(alert_id)
    if acting:
        acting_at(user, alert.site, f"alert {alert_id}")
    return alert
