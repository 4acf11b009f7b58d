"""Telemetry and alert events as InfluxDB line protocol (names in coldchain.measurements).

Every point carries the time of the reading it holds, to the nanosecond, so
writing the same message twice overwrites the same points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coldchain import measurements
from coldchain.contract import AlertEvent, FleetVersion, Telemetry
from coldchain.engine import ExcursionRecord
from coldchain.fleet import Fleet
from coldchain.rollup import DayRecord
from coldchain_io.lineprotocol import Field, point
from coldchain_io.lineprotocol import escape as _tag
from coldchain_io.lineprotocol import nanoseconds as _ns


def telemetry_lines(site: str, message: Telemetry, fleet: Fleet) -> list[str]:
    """One line per reading, event and position, plus gateway health if present."""
    gateway = message.gateway
    seq = f"seq={message.seq}i"
    lines = []
    for reading in message.readings:
        series = _temperature_series(fleet, site, gateway, reading.sensor)
        lines.append(f"{series} temp_c={float(reading.temp_c)!r},{seq} {_ns(reading.ts)}")
    for event in message.events:
        lines.append(
            f"{measurements.EVENT},site={_tag(site)},gateway={_tag(gateway)},"
            f"sensor={_tag(event.sensor)},kind={_tag(event.kind.value)} {seq} {_ns(event.ts)}"
        )
    if message.position is not None:
        position = message.position
        lines.append(
            f"{measurements.POSITION},site={_tag(site)},gateway={_tag(gateway)} "
            f"lat={position.lat!r},lon={position.lon!r},{seq} {_ns(position.ts)}"
        )
    if message.battery_v is not None:
        lines.append(
            f"{measurements.GATEWAY},site={_tag(site)},gateway={_tag(gateway)} "
            f"battery_v={float(message.battery_v)!r},{seq} {_ns(message.sent_at)}"
        )
    return lines


@dataclass
class _Series:
    """The series of the readings of each probe the fleet knows, by sensor id, made once
    per probe for one fleet (ingest has one): 10 000 probes take 1.3 MB."""

    fleet: Fleet | None = None
    by_sensor: dict[str, str] = field(default_factory=dict)


_SERIES = _Series()


def _temperature_series(fleet: Fleet, site: str, gateway: str, sensor: str) -> str:
    if _SERIES.fleet is fleet:
        cached = _SERIES.by_sensor.get(sensor)
        if cached is not None:
            return cached
    else:
        _SERIES.fleet, _SERIES.by_sensor = fleet, {}
    located = fleet.locate(sensor)
    asset = f",asset={_tag(located[3].id)}" if located else ""
    series = (
        f"{measurements.TEMPERATURE},site={_tag(site)},gateway={_tag(gateway)},"
        f"sensor={_tag(sensor)}{asset}"
    )
    if located is not None and (located[0].id, located[1].id) == (site, gateway):
        # Keyed by the fleet's own string; a known probe comes only from its gateway
        # (Fleet.sender_problem), so its series never differs.
        _SERIES.by_sensor[located[2].id] = series
    return series


def alert_line(event: AlertEvent) -> str:
    tags = {
        "site": event.site,
        "rule": event.rule,
        "state": event.state.value,
        "severity": event.severity.value,
        "asset": event.asset,
        "sensor": event.sensor,
        "gateway": event.gateway,
    }
    fields: dict[str, Field | None] = {
        "key": event.key,
        "started_ns": _ns(event.started_at),
        "value_c": event.value_c,
        "peak_c": event.peak_c,
        "limit_c": event.limit_c,
    }
    return point(measurements.ALERT, tags, fields, event.at)


def excursion_line(record: ExcursionRecord) -> str:
    """An excursion's record, at its start time: written again as it ends."""
    tags = {
        "site": record.site,
        "asset": record.asset,
        "sensor": record.sensor,
        "rule": record.rule,
        "severity": record.severity.value,
    }
    ended = record.ended_at
    fields: dict[str, Field | None] = {
        "ended": ended is not None,
        "alarmed": record.alarmed,
        "peak_c": float(record.peak_c),
        "degree_minutes": float(record.degree_minutes),
        "limit_c": float(record.limit_c),
        "regulatory_limit_c": float(record.regulatory_limit_c),
        "duration_s": None if ended is None else (ended - record.started_at).total_seconds(),
        "end_ns": None if ended is None else _ns(ended),
    }
    return point(measurements.EXCURSION, tags, fields, record.started_at)


def rollup_line(site: str, asset: str, sensor: str, record: DayRecord) -> str:
    """A sensor's compliance on one local day, at the day's local midnight: computing the
    day again overwrites it."""
    tags = {"site": site, "asset": asset, "sensor": sensor}
    return point(measurements.COMPLIANCE_DAILY, tags, record.fields(), record.start)


def fleet_limits_lines(message: FleetVersion, fleet: Fleet) -> list[str]:
    """The limits of every asset of a fleet version, at the time it takes effect."""
    lines = []
    for site in fleet.sites:
        for asset in site.assets:
            limits = asset.limits
            fields: dict[str, Field | None] = {
                "version": message.version,
                "category": asset.category,
                "regulatory_max_c": limits.regulatory_max_c,
                "max_c": limits.max_c,
                "warn_max_c": limits.warn_max_c,
                "min_c": limits.min_c,
                "warn_min_c": limits.warn_min_c,
                "absolute_max_c": limits.absolute_max_c,
                "delay_s": limits.delay_s,
                "changed_by": message.approved_by or message.created_by,
                "reason": message.reason or "",
            }
            tags = {"site": site.id, "asset": asset.id}
            lines.append(point(measurements.FLEET_LIMITS, tags, fields, message.valid_from))
    return lines
