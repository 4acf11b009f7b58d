"""The temperature certificate of one delivery: one compartment sensor from loading to hand-over.

It states the delivery (delivery note, goods and lots, receiver, the responsible
person: `delivery`), the sender (the site) and the vehicle (from the fleet file), the
probe with its calibration, min, max, mean and MKT, the time beyond each limit (upper and lower
alarm limit, legal maximum), coverage, the excursions (one in progress at loading
included) with the corrective actions recorded for them by the time it is issued,
the short deviations, the conventions it was counted by, and a seal (the digest of
the readings) that `coldchain-report verify` checks against InfluxDB; as the seal
does not cover what the certificate says about the readings, `verify` also makes
the certificate again and lists its `differences` from the file. Every number
comes from `coldchain.compliance`; this module assembles them and writes and
reads the JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from coldchain import compliance
from coldchain.compliance import Band, GraceEvent, PeriodStats, Sample
from coldchain.corrective import ClosedAlert, answered
from coldchain.signatures import (
    CERTIFICATE_KIND,
    CERTIFICATE_SIGNED_SINCE,
    CERTIFICATE_VERSION,
    NotVerified,
    parse_utc,
    preliminary,
    utc_text,
)
from coldchain_reports import conventions, delivery, limit_periods
from coldchain_reports.calibration import (
    Calibration,
    CalibrationState,
    Marking,
    flaws,
    in_force,
    in_force_between,
    mark,
    state,
)
from coldchain_reports.delivery import Delivery
from coldchain_reports.errors import EditedCertificate, InvalidInput
from coldchain_reports.limit_periods import LimitPeriod, LimitPoint
from coldchain_reports.scope import Scope
from coldchain_reports.seal import Seal

KIND = CERTIFICATE_KIND
#: 3: signed (`signing`), `preliminary`, no seal while preliminary; the delivery's data
#: (`delivery`), `sender`, `vehicle` and `probe` with its calibration. 4: the probe's
#: `checks` during the delivery and its `unverified` readings. The numbers are the
#: domain's: partners receive the signed ones (coldchain.signatures.final_certificate).
VERSION = CERTIFICATE_VERSION
SIGNED_SINCE = CERTIFICATE_SIGNED_SINCE
#: Longest delivery a certificate covers; EN 12830 transport records change rules past a week.
MAX_DURATION = timedelta(days=7)


@dataclass(frozen=True)
class Limit:
    """One limit and the readings' time beyond it."""

    name: str
    """`max_c`, `min_c` (alarm limits) or `regulatory_max_c` (legal maximum)."""
    limit_c: float
    stats: PeriodStats


@dataclass(frozen=True)
class Certificate:
    scope: Scope
    delivery: Delivery
    start: datetime
    end: datetime
    stats: PeriodStats
    """Against the alarm band: coverage, min, max, mean, MKT and the excursions."""
    limits: list[Limit]
    samples: Sequence[Sample]
    seal: Seal
    issued_at: datetime
    actions: list[list[ClosedAlert]]
    """For each excursion beyond the alarm limits, the closings of the alerts answering it."""
    checks: list[Calibration]
    """The probe's checks in force during the delivery, oldest first."""
    marking: Marking
    """Which of the readings the probe took while unverified."""
    limit_periods: list[LimitPeriod]
    """The fleet registry's versions in force during the delivery (empty: none, the fleet
    file's limits applied)."""

    @property
    def handover_day(self) -> date:
        return self.end.astimezone(ZoneInfo(self.scope.timezone)).date()

    @property
    def calibration(self) -> Calibration | None:
        """The probe's check in force at hand-over, if the calibration records know one."""
        return in_force(self.checks, self.handover_day)

    @property
    def calibration_state(self) -> CalibrationState:
        return state(self.calibration, self.handover_day)

    @property
    def preliminary(self) -> bool:
        """Issued before the delivery's readings were all known (signatures.preliminary)."""
        return preliminary(self.end, self.issued_at, self.scope.reach_s)

    def beyond(self, name: str) -> Limit | None:
        return next((limit for limit in self.limits if limit.name == name), None)


def build(
    scope: Scope,
    start: datetime,
    end: datetime,
    samples: Sequence[Sample],
    delivery: Delivery,
    issued_at: datetime,
    closings: Sequence[ClosedAlert],
    events: Sequence[GraceEvent] = (),
    checks: Sequence[Calibration] = (),
    limit_points: Sequence[LimitPoint] = (),
) -> Certificate:
    """The certificate from the readings and events compliance.judged_readings read for it,
    the probe's calibration `checks` (oldest first) and the asset's `fleet_limits` points
    that say which limits applied when."""
    check_interval(start, end)
    interval_s = scope.sensor.interval_s
    levels = scope.limits

    def against(band: Band) -> PeriodStats:
        return compliance.period_stats(samples, start, end, band, interval_s, scope.rules, events)

    limits = []
    if levels.max_c is not None:
        limits.append(Limit("max_c", levels.max_c, against(Band(max_c=levels.max_c))))
    if levels.min_c is not None:
        limits.append(Limit("min_c", levels.min_c, against(Band(max_c=None, min_c=levels.min_c))))
    limits.append(Limit("regulatory_max_c", levels.regulatory_max_c, against(scope.legal_band)))
    stats = against(scope.alarm_band)
    zone = ZoneInfo(scope.timezone)
    during = in_force_between(
        checks,
        start.astimezone(zone).date(),
        (end - timedelta(microseconds=1)).astimezone(zone).date(),
    )
    times = sorted(sample.ts for sample in samples)
    return Certificate(
        scope=scope,
        delivery=delivery,
        start=start,
        end=end,
        stats=stats,
        limits=limits,
        samples=[sample for sample in samples if start <= sample.ts < end],
        seal=Seal.over(scope.asset.id, scope.sensor.id, start, end, samples),
        issued_at=issued_at,
        actions=answered([*stats.carried, *stats.excursions], closings),
        checks=during,
        marking=mark(during, start, end, scope.timezone, times),
        limit_periods=limit_periods.periods(limit_points, start, end),
    )


def check_interval(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput(
            f"hand-over ({end.isoformat()}) must be after loading ({start.isoformat()})"
        )
    if end - start > MAX_DURATION:
        raise InvalidInput(f"a delivery certificate covers at most {MAX_DURATION.days} days")


def to_json(certificate: Certificate) -> dict[str, Any]:
    """The certificate as JSON-ready data: numbers rounded to 3 decimals, times UTC and local."""
    scope, stats = certificate.scope, certificate.stats
    zone = ZoneInfo(scope.timezone)

    def moment(value: datetime) -> dict[str, str]:
        return {"utc": utc_text(value), "local": value.astimezone(zone).isoformat()}

    return {
        "kind": KIND,
        "version": VERSION,
        "delivery": certificate.delivery.to_json(),
        "sender": {
            "site": scope.site.id,
            "name": scope.site.name,
            "address": scope.site.address,
        },
        "vehicle": (
            {"gateway": scope.gateway.id, "plate": scope.gateway.plate}
            if scope.gateway.mobile
            else None
        ),
        "site": scope.site.id,
        "asset": {"id": scope.asset.id, "name": scope.asset.name.model_dump()},
        "category": scope.asset.category,
        "sensor": scope.sensor.id,
        "interval_s": scope.sensor.interval_s,
        "probe": {
            "sensor": scope.sensor.id,
            "calibration": _calibration(certificate),
            "checks": [_check(check) for check in certificate.checks],
            "unverified": {
                "readings": certificate.marking.readings,
                "spans": [
                    {"from": moment(since), "to": moment(until)}
                    for since, until in certificate.marking.spans
                ],
            },
        },
        "timezone": scope.timezone,
        "from": moment(certificate.start),
        "to": moment(certificate.end),
        "limits": {
            "regulatory_max_c": scope.limits.regulatory_max_c,
            "max_c": scope.limits.max_c,
            "min_c": scope.limits.min_c,
        },
        "limit_periods": limit_periods.as_json(certificate.limit_periods),
        "readings": stats.samples,
        "duration_s": _n(stats.duration_s),
        "covered_s": _n(stats.covered_s),
        "coverage_pct": _n(stats.coverage_pct),
        "min_c": _n(stats.min_c),
        "max_c": _n(stats.max_c),
        "mean_c": _n(stats.mean_c),
        "mkt_c": _n(stats.mkt_c),
        "in_range_s": _n(stats.in_range_s),
        "time_in_range_pct": _n(stats.time_in_range_pct),
        "beyond": {
            limit.name: {
                "limit_c": limit.limit_c,
                "seconds": _n(limit.stats.excursion_s),
                "degree_minutes": _n(limit.stats.degree_minutes),
            }
            for limit in certificate.limits
        },
        "conventions": conventions.as_json(scope, []),
        "excursions": [
            {
                "from": moment(excursion.start),
                "to": moment(excursion.end),
                "began_before": excursion in stats.carried,
                "ongoing": excursion.ongoing,
                "duration_s": _n(excursion.duration_s),
                "peak_c": _n(excursion.peak_c),
                "degree_minutes": _n(excursion.degree_minutes),
                "actions": [
                    {
                        "alert_id": closing.alert_id,
                        "closed": moment(closing.closed_at),
                        "closed_by": closing.actor,
                        "cause": closing.cause,
                        "corrective_action": closing.corrective_action,
                        "product_decision": closing.product_decision,
                        "comment": closing.comment,
                    }
                    for closing in actions
                ],
            }
            for excursion, actions in zip(
                [*stats.carried, *stats.excursions], certificate.actions, strict=True
            )
        ],
        "short_deviations": [
            {
                "from": moment(deviation.start),
                "to": moment(deviation.end),
                "ongoing": deviation.ongoing,
                "duration_s": _n(deviation.duration_s),
                "peak_c": _n(deviation.peak_c),
                "degree_minutes": _n(deviation.degree_minutes),
                "held_back": deviation.held_back.value,
            }
            for deviation in stats.short_deviations
        ],
        "digest": {
            "algorithm": "sha256",
            "value": certificate.seal.digest,
            "over": "one line 'sensor,time in ns,temp_c' per reading with from <= time < to, "
            "sorted by time (coldchain.compliance.digest)",
        },
        "seal": None if certificate.preliminary else certificate.seal.text(),
        "issued_at": utc_text(certificate.issued_at),
        "preliminary": certificate.preliminary,
    }


def _calibration(certificate: Certificate) -> dict[str, Any]:
    check = certificate.calibration
    return {
        "state": certificate.calibration_state.value,
        "checked_on": check.checked_on.isoformat() if check else None,
        "due_on": check.due_on.isoformat() if check else None,
        "deviation_k": check.deviation_k if check else None,
        "reference": check.reference if check else None,
        "reasons": [flaw.value for flaw in flaws(check, certificate.handover_day)] if check else [],
    }


def _check(check: Calibration) -> dict[str, Any]:
    return {
        "checked_on": check.checked_on.isoformat(),
        "due_on": check.due_on.isoformat(),
        "deviation_k": check.deviation_k,
        "reference": check.reference,
    }


def stated(data: dict[str, Any]) -> tuple[Delivery, list[Calibration]]:
    """What a certificate's JSON states that neither the readings nor the fleet file give:
    the delivery's data and the probe's checks (of version 3: the one in force at
    hand-over); raises InvalidInput when either is missing or garbled."""
    version = data.get("version")
    if isinstance(version, bool) or version not in range(SIGNED_SINCE, VERSION + 1):
        raise InvalidInput(
            f"the certificate is of version {version!r}, which carries no delivery data; "
            f"this tool checks versions {SIGNED_SINCE} to {VERSION} (check an older one's "
            "readings with verify --seal and its QR code)"
        )
    found = delivery.parse(data.get("delivery"), "the certificate's delivery")
    try:
        sensor = str(data["probe"]["sensor"])
        if version == VERSION:
            return found, [_stated_check(sensor, check) for check in data["probe"]["checks"]]
        check = data["probe"]["calibration"]
        if check["state"] == CalibrationState.UNKNOWN.value:
            return found, []
        return found, [_stated_check(sensor, check)]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"the certificate lacks or garbles its probe's calibration: {exc}"
        ) from None


def _stated_check(sensor: str, check: Any) -> Calibration:
    return Calibration(
        sensor=sensor,
        checked_on=date.fromisoformat(check["checked_on"]),
        due_on=date.fromisoformat(check["due_on"]),
        reference=str(check["reference"]),
        deviation_k=_kelvin(check["deviation_k"]),
    )


def as_version(made: dict[str, Any], version: int) -> dict[str, Any]:
    """A certificate's JSON `made` now, as the older `version` wrote it: without the
    fields added since, so that one issued then is compared field by field."""
    if version >= VERSION:
        return made
    probe = {k: v for k, v in made["probe"].items() if k not in ("checks", "unverified")}
    return made | {"version": version, "probe": probe}


def _kelvin(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"deviation_k {value!r} is not a number")
    return float(value)


def seal_of(data: dict[str, Any]) -> Seal:
    """The seal a certificate's JSON claims; raises InvalidInput when fields are missing
    or its `seal` text disagrees with its fields (an edited file)."""
    if data.get("preliminary") is True:
        raise NotVerified(
            "preliminary: the certificate was issued before the delivery's readings were all "
            "stored, so it has no seal to check against the database; ask for one made after "
            "the hand-over"
        )
    try:
        if data.get("kind") != KIND:
            raise InvalidInput(f"not a delivery certificate (kind {data.get('kind')!r})")
        seal = Seal(
            asset=str(data["asset"]["id"]),
            sensor=str(data["sensor"]),
            start=parse_utc(str(data["from"]["utc"])),
            end=parse_utc(str(data["to"]["utc"])),
            digest=str(data["digest"]["value"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"the certificate lacks or garbles a field: {exc}") from None
    if Seal.parse(str(data.get("seal", ""))) != seal:
        raise EditedCertificate(
            "the certificate's seal (its QR code) disagrees with its fields: the file was edited"
        )
    return seal


def issued_at(data: Mapping[str, Any]) -> datetime:
    """When the certificate `data` (its JSON) says it was issued, UTC."""
    try:
        return parse_utc(str(data["issued_at"]))
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"the certificate lacks or garbles a field: {exc}") from None


#: Fields a certificate takes from the fleet file, not from the readings.
_FROM_FLEET = frozenset(
    {"site", "sender", "vehicle", "asset", "category", "interval_s", "timezone", "limits"}
)


def differences(stated: Any, made: Any, where: str = "") -> list[str]:
    """Each field where a certificate's JSON (`stated`) differs from the one `to_json`
    makes now (`made`), as `path: the certificate says X, the readings give Y`."""
    if isinstance(stated, dict) and isinstance(made, dict):
        found = []
        for key, value in made.items():
            path = f"{where}{key}"
            if key not in stated:
                found.append(f"{path}: missing from the certificate")
            else:
                found += differences(stated[key], value, f"{path}.")
        found += [f"{where}{key}: not a field of a certificate" for key in stated.keys() - made]
        return found
    path = where.rstrip(".")
    if isinstance(stated, list) and isinstance(made, list) and len(stated) == len(made):
        return [
            found
            for index, (one, other) in enumerate(zip(stated, made, strict=True))
            for found in differences(one, other, f"{where}{index}.")
        ]
    if stated == made and isinstance(stated, bool) == isinstance(made, bool):
        return []
    source = _source(path)
    if isinstance(stated, list) and isinstance(made, list):
        return [f"{path}: the certificate lists {len(stated)}, {source} {len(made)}"]
    return [f"{path}: the certificate says {stated!r}, {source} {made!r}"]


def _source(path: str) -> str:
    limit = path.startswith("beyond.") and path.endswith(".limit_c")
    if limit or path.split(".")[0] in _FROM_FLEET:
        return "the fleet file gives"
    if ".actions" in path:
        return "the closings recorded in InfluxDB give"
    if path.startswith("probe."):
        return "its calibration dates and hand-over give"
    if path.startswith("limit_periods"):
        return "the fleet registry's limits in InfluxDB give"
    return "the readings give"


def _n(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
