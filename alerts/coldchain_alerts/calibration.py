"""The calibration register (EN 13486): each probe's checks, and their maintenance alert.

A check is entered through the API or `coldchain-alerts calibration import` (the
lab's CSV, `coldchain.calibration`), each one an audit entry `calibration.checked`.
It must name a temperature probe of the current fleet (the registry's newest
version, or the fleet file before the registry holds one), a day not after today
at the probe's site, and a deviation that is a number.

Every `calibration_check_interval_s` (and at once after an entry through the
API) each probe's latest check is looked at: one that is overdue or found more than
±1 K off raises the warning `probe_unverified`, from the day it stopped verifying,
through the same lifecycle and escalation as ingest's alerts
(`AlertsService.handle_events`); it clears once a check that verifies is entered.
A probe without any check raises nothing: its reports say "unknown".
Each check is also queued, in the transaction that records it, as a point of the
measurement `calibration` for InfluxDB (outbox.py): ingest's rollup reads the checks
there to mark the days a probe was unverified, without a connection to this service.
docs/compliance.md explains it to people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coldchain import alerting
from coldchain import calibration as rules
from coldchain.calibration import Calibration
from coldchain.contract import AlertEvent, AlertState
from coldchain.fleet import Fleet
from coldchain.measurements import CALIBRATION
from coldchain_alerts import audit, outbox, registry
from coldchain_alerts.models import Alert, CalibrationCheck, Occurrence
from coldchain_io.lineprotocol import point

#: Longest reference and checked_by kept (characters).
MAX_TEXT = 200
#: Largest deviation the register takes, in K: beyond it the number is a typing error.
MAX_ABS_DEVIATION_K = 100.0


class Refused(ValueError):
    """Checks the register does not take; `problems` says why, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Probe:
    site: str
    asset: str
    timezone: str


def probes(fleet: Fleet | None) -> dict[str, Probe]:
    """The fleet's temperature probes by sensor id: door contacts are not calibrated."""
    if fleet is None:
        return {}
    return {
        sensor.id: Probe(site.id, asset.id, site.timezone)
        for site, _, sensor, asset in fleet.sensors()
        if sensor.kind == "temperature"
    }


def record(
    session: Session,
    actor: str,
    checks: Sequence[tuple[str, Calibration]],
    fleet: Fleet | None,
    now: datetime,
) -> list[CalibrationCheck]:
    """Add `checks`, all or none; raises Refused listing every one the register does not
    take, after the text each check comes with (`line 3: `, or none)."""
    known = probes(fleet)
    problems = [
        f"{where}{problem}" for where, check in checks if (problem := _problem(check, known, now))
    ]
    if problems:
        raise Refused(problems)
    rows = [_row(check, actor, now) for _, check in checks]
    session.add_all(rows)
    session.flush()
    for row in rows:
        audit.append(
            session,
            actor=actor,
            action="calibration.checked",
            subject=f"sensor:{row.sensor}",
            detail={
                "id": row.id,
                "checked_on": row.checked_on.isoformat(),
                "due_on": row.due_on.isoformat(),
                "reference": row.reference,
                "deviation_k": row.deviation_k,
                "checked_by": row.checked_by,
            },
            at=now,
            sites=(known[row.sensor].site,),
        )
        outbox.queue(session, _line(row, known[row.sensor]))
    return rows


def _line(row: CalibrationCheck, probe: Probe) -> str:
    """The check as a point of `calibration`, for ingest's rollup and the dashboards."""
    tags = {"site": probe.site, "asset": probe.asset, "sensor": row.sensor, "check": str(row.id)}
    return point(CALIBRATION, tags, rules.fields_of(as_calibration(row)), row.entered_at)


def _problem(check: Calibration, known: dict[str, Probe], now: datetime) -> str | None:
    probe = known.get(check.sensor)
    if probe is None:
        return (
            f"sensor {check.sensor!r} is no temperature probe of the current fleet version: "
            "name it as the fleet does (GET /api/v1/fleet)"
        )
    today = now.astimezone(ZoneInfo(probe.timezone)).date()
    if check.checked_on > today:
        return f"checked_on {check.checked_on} is in the future (today is {today} at {probe.site})"
    if check.due_on < check.checked_on:
        return f"due_on {check.due_on} is before checked_on {check.checked_on}"
    if check.deviation_k is not None and abs(check.deviation_k) > MAX_ABS_DEVIATION_K:
        return f"deviation_k {check.deviation_k} K is beyond ±{MAX_ABS_DEVIATION_K:g} K"
    texts = {"reference": check.reference, "checked_by": check.checked_by}
    for name, text in texts.items():
        fits = text is None or (text.strip() and len(text) <= MAX_TEXT and text.isprintable())
        if not fits:
            return f"{name} must be 1 to {MAX_TEXT} printable characters"
    return None


def _row(check: Calibration, actor: str, now: datetime) -> CalibrationCheck:
    return CalibrationCheck(
        sensor=check.sensor,
        checked_on=check.checked_on,
        due_on=check.due_on,
        reference=check.reference,
        deviation_k=check.deviation_k,
        checked_by=check.checked_by,
        entered_by=actor,
        entered_at=now,
    )


def listing(session: Session, sensor: str | None = None) -> list[CalibrationCheck]:
    """Every check (of one sensor), in the order they were made, then entered."""
    query = select(CalibrationCheck).order_by(CalibrationCheck.checked_on, CalibrationCheck.id)
    if sensor is not None:
        query = query.where(CalibrationCheck.sensor == sensor)
    return list(session.scalars(query))


def as_calibration(row: CalibrationCheck) -> Calibration:
    return Calibration(
        sensor=row.sensor,
        checked_on=row.checked_on,
        due_on=row.due_on,
        reference=row.reference,
        deviation_k=row.deviation_k,
        checked_by=row.checked_by,
    )


def by_sensor(rows: Iterable[CalibrationCheck]) -> dict[str, list[Calibration]]:
    """Each sensor's checks in the order they were made, then entered: as the domain's
    `in_force` and `state_on` take them."""
    found: dict[str, list[Calibration]] = {}
    for row in sorted(rows, key=lambda r: (r.checked_on, r.id)):
        found.setdefault(row.sensor, []).append(as_calibration(row))
    return found


def events(session: Session, fleet: Fleet | None, now: datetime) -> list[AlertEvent]:
    """What to tell the lifecycle: raise for a probe whose check in force does not verify
    it today and has no alert open, clear where one is open and the check verifies."""
    found = []
    registered = by_sensor(listing(session))
    for sensor, probe in probes(fleet).items():
        today = now.astimezone(ZoneInfo(probe.timezone)).date()
        check = rules.in_force(registered.get(sensor, []), today)
        if check is None:
            continue
        unverified = rules.state(check, today) is rules.CalibrationState.UNVERIFIED
        key = _open_key(session, sensor)
        if unverified and key is None:
            since = rules.start_of(rules.unverified_from(check), probe.timezone)
            found.append(
                rules.unverified_event(
                    probe.site, probe.asset, sensor, since, now, AlertState.RAISED
                )
            )
        elif not unverified and key is not None:
            since = datetime.fromisoformat(key.rsplit("/", 1)[1])
            found.append(
                rules.unverified_event(
                    probe.site, probe.asset, sensor, since, now, AlertState.CLEARED, key
                )
            )
    return found


def _open_key(session: Session, sensor: str) -> str | None:
    """The key of the probe's maintenance alert still present (not cleared), or None."""
    return session.scalars(
        select(Occurrence.key)
        .join(Alert)
        .where(
            Alert.condition == rules.condition(sensor),
            Alert.status != alerting.Status.CLOSED,
            Occurrence.cleared_at.is_(None),
        )
    ).first()


def check(
    sessions: sessionmaker[Session],
    fallback: Fleet | None,
    handle: Callable[[Sequence[AlertEvent]], None],
    now: datetime,
) -> list[AlertEvent]:
    """Look at the register once and hand the events it calls for to `handle`."""
    with sessions() as session:
        found = events(session, registry.current_fleet(session, fallback), now)
    if found:
        handle(found)
    return found
