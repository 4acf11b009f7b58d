"""/api/v1/calibration: the calibration register (EN 13486). Reading for everyone;
entering a check for officers and admins."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from coldchain import calibration as rules
from coldchain.calibration import Calibration
from coldchain_alerts import calibration, registry
from coldchain_alerts.api.deps import (
    ERRORS,
    NO_NUL,
    CalibrationChecker,
    Reader,
    Refusal,
    SessionDep,
    TokenRoute,
    WriteSessionDep,
    acting_at,
    missing,
)
from coldchain_alerts.models import CalibrationCheck

router = APIRouter(
    prefix="/api/v1/calibration", tags=["calibration"], responses=ERRORS, route_class=TokenRoute
)
Text = Annotated[str, Field(min_length=1, max_length=calibration.MAX_TEXT, pattern=NO_NUL)]


class CheckIn(BaseModel):
    sensor: str = Field(max_length=130, pattern=NO_NUL, examples=["cold-room-1.air"])
    checked_on: date = Field(description="The day of the check, at the probe's site.")
    due_on: date | None = Field(
        default=None, description="When the next check is due; default: a year later."
    )
    reference: Text = Field(description="The reference instrument, or its certificate.")
    deviation_k: float = Field(
        allow_inf_nan=False,
        description="The largest deviation from the reference found, in K (±1 K verifies).",
    )
    checked_by: Text = Field(description="Who made the check (person or lab).")


class CheckOut(BaseModel):
    id: int
    sensor: str
    checked_on: date
    due_on: date
    reference: str
    deviation_k: float | None
    checked_by: str | None
    entered_by: str
    entered_at: datetime


def check_out(row: CalibrationCheck) -> CheckOut:
    return CheckOut(
        id=row.id,
        sensor=row.sensor,
        checked_on=row.checked_on,
        due_on=row.due_on,
        reference=row.reference,
        deviation_k=row.deviation_k,
        checked_by=row.checked_by,
        entered_by=row.entered_by,
        entered_at=row.entered_at,
    )


@router.get("", response_model=list[CheckOut])
def checks(
    session: SessionDep,
    user: Reader,
    request: Request,
    sensor: Annotated[str | None, Query(max_length=130, pattern=NO_NUL)] = None,
) -> list[CheckOut]:
    """Every check (of one sensor) of the caller's sites, in the order they were made."""
    rows = calibration.listing(session, sensor)
    if user.everywhere:
        return [check_out(row) for row in rows]
    fleet = registry.current_fleet(session, request.app.state.service.fleet)
    probes = calibration.probes(fleet)
    return [
        check_out(row)
        for row in rows
        if row.sensor in probes and user.sees(probes[row.sensor].site)
    ]


@router.post(
    "",
    response_model=CheckOut,
    status_code=201,
    responses={422: {"model": Refusal}},
)
def enter(
    body: CheckIn, session: WriteSessionDep, user: CalibrationChecker, request: Request
) -> CheckOut:
    """Enter one check; the probe's maintenance alert is raised or cleared at once."""
    service = request.app.state.service
    check = Calibration(
        sensor=body.sensor,
        checked_on=body.checked_on,
        due_on=body.due_on or rules.a_year_after(body.checked_on),
        reference=body.reference,
        deviation_k=body.deviation_k,
        checked_by=body.checked_by,
    )
    fleet = registry.current_fleet(session, service.fleet)
    probe = calibration.probes(fleet).get(body.sensor)
    if probe is not None:
        acting_at(user, probe.site, f"calibration of {body.sensor}")
    elif not user.everywhere:
        raise missing(f"temperature probe {body.sensor} at your sites")
    try:
        (row,) = calibration.record(session, user.username, [("", check)], fleet, _now())
    except calibration.Refused as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    service.wake_calibration_check()
    return check_out(row)


def _now() -> datetime:
    return datetime.now(UTC)
