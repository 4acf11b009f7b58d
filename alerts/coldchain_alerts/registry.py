"""The fleet registry: versions of the fleet, the changes people ask for, four-eyes.

A change (one value by its path, or a whole fleet imported) is checked against
the fleet's rules (`coldchain.fleet.Fleet`: a limit above the category's legal
maximum is refused) and compared with the newest version
(`coldchain.registry`). One that loosens a critical limit waits as a pending
request until a second person with the right to act approves it; any other
takes effect at once as the next version, valid from now. Every step is an
audit entry with old → new and the reason. The service publishes each version
on MQTT for ingest (service.py). docs/fleet.md explains it to people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldchain import registry
from coldchain.contract import MAX_REASON_CHARS
from coldchain.contract import FleetVersion as FleetVersionMessage
from coldchain.errors import FleetConfigError
from coldchain.fleet import Fleet
from coldchain_alerts import audit
from coldchain_alerts.models import FleetChange, FleetRequest, FleetVersion

PENDING, APPLIED, REFUSED = "pending", "applied", "refused"


class RegistryError(Exception):
    """A change the registry refuses; `status` is the HTTP status that says so."""

    status = 422

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(RegistryError):
    status = 404


class Conflict(RegistryError):
    status = 409


@dataclass(frozen=True)
class Outcome:
    request: FleetRequest
    version: FleetVersion | None
    """The new version, or None while the request waits for approval."""


def newest(session: Session) -> FleetVersion | None:
    return session.scalars(
        select(FleetVersion).order_by(FleetVersion.number.desc()).limit(1)
    ).one_or_none()


def current_fleet(session: Session, fallback: Fleet | None) -> Fleet | None:
    """The newest fleet version, or `fallback` (the fleet file) before one."""
    row = newest(session)
    return Fleet.from_data(data_of(row)) if row is not None else fallback


def version(session: Session, number: int) -> FleetVersion:
    found = session.get(FleetVersion, number)
    if found is None:
        raise NotFound(f"there is no fleet version {number}")
    return found


def data_of(row: FleetVersion | FleetRequest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(row.fleet)
    return data


def change_value(
    session: Session, actor: str, path: str, value: Any, reason: str | None
) -> Outcome:
    """Set one value of the newest version (see coldchain.registry for paths)."""
    base = newest(session)
    if base is None:
        raise Conflict(
            "the registry holds no fleet yet: import one first "
            "(coldchain-alerts fleet import FILE --reason ...)"
        )
    try:
        data = registry.set_value(data_of(base), path, value)
    except registry.ChangeRefused as exc:
        raise RegistryError(str(exc)) from None
    return propose(session, actor, data, reason)


def propose(session: Session, actor: str, data: Any, reason: str | None) -> Outcome:
    """Make `data` (a whole fleet) the next version, or a pending request if it loosens."""
    reason = _reason(reason)
    fleet = _valid(data)
    base = newest(session)
    before = data_of(base) if base is not None else {}
    found = registry.changes(before, data)
    if not found:
        raise Conflict("this is the fleet as it is: nothing to change")
    if registry.needs_reason(found) and reason is None:
        raise RegistryError(
            "a change of limits or categories needs a reason (HACCP): say why, "
            "for example 'new product in cold room 2'"
        )
    loosens = registry.loosened(Fleet.from_data(before), fleet) if base is not None else []
    now = datetime.now(UTC)
    request = FleetRequest(
        status=PENDING,
        base_version=base.number if base is not None else None,
        fleet=_json(data),
        requested_by=actor,
        requested_at=now,
        reason=reason,
        loosens=_json(loosens),
        changes=[FleetChange(path=c.path, old=_json(c.old), new=_json(c.new)) for c in found],
    )
    session.add(request)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="fleet.change_requested",
        subject=f"fleet:request:{request.id}",
        detail=_detail(request),
        at=now,
        sites=registry.sites_touched(before, data),
    )
    if loosens:
        return Outcome(request, None)
    return Outcome(request, _apply(session, request, actor, None, now))


def approve(session: Session, actor: str, request_id: int) -> Outcome:
    """A second person approves a pending request: it becomes the next version."""
    request = _pending(session, request_id)
    if actor == request.requested_by:
        raise Conflict(
            "a change that loosens a critical limit needs a second person: "
            f"{actor} asked for it and may not approve it"
        )
    base = newest(session)
    if (base.number if base is not None else None) != request.base_version:
        raise Conflict(
            f"the fleet changed since this request (now version {base.number if base else 0}, "
            f"the request changes version {request.base_version}): refuse it and ask again"
        )
    now = datetime.now(UTC)
    request.decided_by, request.decided_at = actor, now
    return Outcome(request, _apply(session, request, request.requested_by, actor, now))


def refuse(session: Session, actor: str, request_id: int, reason: str | None) -> FleetRequest:
    """Refuse a pending request (the one who asked may withdraw it, too)."""
    request = _pending(session, request_id)
    request.status = REFUSED
    request.decided_by, request.decided_at = actor, datetime.now(UTC)
    request.decision_reason = _reason(reason)
    audit.append(
        session,
        actor=actor,
        action="fleet.change_refused",
        subject=f"fleet:request:{request.id}",
        detail={"request": request.id, "reason": request.decision_reason},
        sites=sites_of_request(session, request.id),
    )
    return request


def requests(session: Session, status: str | None = None, limit: int = 200) -> list[FleetRequest]:
    query = select(FleetRequest).order_by(FleetRequest.id.desc()).limit(limit)
    if status is not None:
        query = query.where(FleetRequest.status == status)
    return list(session.scalars(query))


def versions(session: Session) -> list[FleetVersion]:
    return list(session.scalars(select(FleetVersion).order_by(FleetVersion.number)))


def highest(session: Session) -> int:
    return session.scalar(select(func.max(FleetVersion.number))) or 0


def message(row: FleetVersion) -> FleetVersionMessage:
    """The version as ingest receives it (coldchain.contract.FleetVersion)."""
    return FleetVersionMessage(
        version=row.number,
        valid_from=row.valid_from,
        created_by=row.created_by,
        approved_by=row.approved_by,
        reason=row.reason,
        fleet=data_of(row),
    )


def site_of_path(session: Session, path: str) -> str | None:
    """The site of the value at `path` in the newest version; None if it holds no such
    site, asset, gateway or sensor."""
    base = newest(session)
    return None if base is None else registry.site_of(registry.flatten(data_of(base)), path)


def sites_of_request(session: Session, request_id: int) -> set[str]:
    """Every site a change request touches, in the version it changes and in its result."""
    request = session.get(FleetRequest, request_id)
    if request is None:
        raise NotFound(f"there is no fleet change request {request_id}")
    base = session.get(FleetVersion, request.base_version) if request.base_version else None
    return registry.sites_touched(data_of(base) if base else {}, data_of(request))


def loosens_of(request: FleetRequest) -> list[str]:
    found: list[str] = json.loads(request.loosens)
    return found


def _apply(
    session: Session, request: FleetRequest, author: str, approver: str | None, now: datetime
) -> FleetVersion:
    number = highest(session) + 1
    row = FleetVersion(
        number=number,
        valid_from=now,
        created_by=author,
        reason=request.reason,
        approved_by=approver,
        approved_at=now if approver else None,
        fleet=request.fleet,
    )
    session.add(row)
    session.flush()
    request.status, request.version = APPLIED, number
    audit.append(
        session,
        actor=approver or author,
        action="fleet.changed",
        subject=f"fleet:version:{number}",
        detail={**_detail(request), "version": number, "approved_by": approver},
        at=now,
        sites=sites_of_request(session, request.id),
    )
    return row


def _pending(session: Session, request_id: int) -> FleetRequest:
    request = session.get(FleetRequest, request_id)
    if request is None:
        raise NotFound(f"there is no fleet change request {request_id}")
    if request.status != PENDING:
        raise Conflict(f"fleet change request {request_id} is {request.status}, not pending")
    return request


def _detail(request: FleetRequest) -> dict[str, Any]:
    return {
        "request": request.id,
        "reason": request.reason,
        "changes": [
            {"path": c.path, "old": json.loads(c.old), "new": json.loads(c.new)}
            for c in request.changes
        ],
        "loosens": loosens_of(request),
    }


def _valid(data: Any) -> Fleet:
    try:
        fleet = Fleet.from_data(data)
        _json(data)
    except FleetConfigError as exc:
        raise RegistryError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"the fleet holds a value JSON cannot carry ({exc}): write dates and times "
            "in quotes, and numbers as finite numbers"
        ) from None
    return fleet


def _reason(reason: str | None) -> str | None:
    text = (reason or "").strip()
    if len(text) > MAX_REASON_CHARS:
        raise RegistryError(f"a reason has at most {MAX_REASON_CHARS} characters")
    if "\x00" in text:
        raise RegistryError("a reason may not contain NUL characters")
    return text or None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
