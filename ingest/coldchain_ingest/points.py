"""Telemetry and alert events as InfluxDB line protocol (names in coldchain.measurements).

Every point carries the time of the reading it holds, to the nanosecond, so
writing the same message twice overwrites the same points.
"""

from __future__ import annotations

from datetime import UTC, datetime

from coldchain import measurements
from coldchain.contract import AlertEvent, Telemetry
from coldchain.fleet import Fleet

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\\": "\\\\"})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\"})


def telemetry_lines(site: str, message: Telemetry, fleet: Fleet) -> list[str]:
    """One line per reading, event and position, plus gateway health if present."""
    gateway = message.gateway
    seq = f"seq={message.seq}i"
    lines = []
    for reading in message.readings:
        located = fleet.locate(reading.sensor)
        asset = f",asset={_tag(located[3].id)}" if located else ""
        lines.append(
            f"{measurements.TEMPERATURE},site={_tag(site)},gateway={_tag(gateway)},"
            f"sensor={_tag(reading.sensor)}{asset} temp_c={float(reading.temp_c)!r},{seq} "
            f"{_ns(reading.ts)}"
        )
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


def alert_line(event: AlertEvent) -> str:
    return (
        f"{measurements.ALERT},site={_tag(event.site)},asset={_tag(event.asset)},"
        f"sensor={_tag(event.sensor)},rule={_tag(event.rule)},state={_tag(event.state.value)} "
        f"value_c={event.value_c!r},peak_c={event.peak_c!r},limit_c={event.limit_c!r},"
        f'key="{event.key.translate(_STRING_ESCAPES)}" {_ns(event.at)}'
    )


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _ns(ts: datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
