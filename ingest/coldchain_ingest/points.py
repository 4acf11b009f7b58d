"""Telemetry and alert events as InfluxDB line protocol (names in coldchain.measurements).

Every point carries the time of the reading it holds, to the nanosecond, so
writing the same message twice overwrites the same points.
"""

from __future__ import annotations

from datetime import UTC, datetime

from coldchain import measurements
from coldchain.contract import AlertEvent, Telemetry
from coldchain.engine import ExcursionRecord
from coldchain.fleet import Fleet
from coldchain.rollup import DayRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\\": "\\\\"})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\"})


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


#: Series of a probe's readings by (fleet identity, site, gateway, sensor), with that fleet.
_SERIES: dict[tuple[int, str, str, str], tuple[Fleet, str]] = {}


def _temperature_series(fleet: Fleet, site: str, gateway: str, sensor: str) -> str:
    # Measurement and tags are the same for every reading of a probe: made once.
    key = (id(fleet), site, gateway, sensor)
    cached = _SERIES.get(key)
    if cached is not None and cached[0] is fleet:
        return cached[1]
    located = fleet.locate(sensor)
    asset = f",asset={_tag(located[3].id)}" if located else ""
    series = (
        f"{measurements.TEMPERATURE},site={_tag(site)},gateway={_tag(gateway)},"
        f"sensor={_tag(sensor)}{asset}"
    )
    if len(_SERIES) >= 65_536:
        _SERIES.clear()
    _SERIES[key] = (fleet, series)
    return series


def alert_line(event: AlertEvent) -> str:
    tags = {"site": event.site, "rule": event.rule, "state": event.state.value}
    tags |= {"severity": event.severity.value}
    tags |= {k: v for k, v in (("asset", event.asset), ("sensor", event.sensor)) if v}
    tags |= {"gateway": event.gateway} if event.gateway else {}
    fields = {
        "key": f'"{event.key.translate(_STRING_ESCAPES)}"',
        "started_ns": f"{_ns(event.started_at)}i",
    }
    for name in ("value_c", "peak_c", "limit_c"):
        value = getattr(event, name)
        if value is not None:
            fields[name] = repr(float(value))
    return _line(measurements.ALERT, tags, fields, event.at)


def excursion_line(record: ExcursionRecord) -> str:
    """An excursion's record, at its start time: written again as it ends."""
    tags = {
        "site": record.site,
        "asset": record.asset,
        "sensor": record.sensor,
        "rule": record.rule,
        "severity": record.severity.value,
    }
    fields = {
        "ended": "true" if record.ended_at else "false",
        "alarmed": "true" if record.alarmed else "false",
        "peak_c": repr(float(record.peak_c)),
        "degree_minutes": repr(float(record.degree_minutes)),
        "limit_c": repr(float(record.limit_c)),
        "regulatory_limit_c": repr(float(record.regulatory_limit_c)),
    }
    if record.ended_at is not None:
        fields["duration_s"] = repr((record.ended_at - record.started_at).total_seconds())
        fields["end_ns"] = f"{_ns(record.ended_at)}i"
    return _line(measurements.EXCURSION, tags, fields, record.started_at)


def rollup_line(site: str, asset: str, sensor: str, record: DayRecord) -> str:
    """A sensor's compliance on one local day, at the day's local midnight: computing the
    day again overwrites it."""
    tags = {"site": site, "asset": asset, "sensor": sensor}
    fields = {
        name: f"{value}i" if isinstance(value, int) else repr(float(value))
        for name, value in record.fields().items()
    }
    return _line(measurements.COMPLIANCE_DAILY, tags, fields, record.start)


def _line(measurement: str, tags: dict[str, str], fields: dict[str, str], ts: datetime) -> str:
    tag_text = "".join(f",{k}={_tag(v)}" for k, v in sorted(tags.items()))
    field_text = ",".join(f"{k}={v}" for k, v in fields.items())
    return f"{measurement}{tag_text} {field_text} {_ns(ts)}"


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _ns(ts: datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
