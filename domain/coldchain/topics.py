"""MQTT topic names of contract v1. Every topic string is built here and nowhere else."""

from __future__ import annotations

import re

PREFIX = "coldchain/v1"

#: What ingest subscribes to.
TELEMETRY_FILTER = f"{PREFIX}/+/+/telemetry"
#: Ingest watches gateways' retained online/offline status.
STATUS_FILTER = f"{PREFIX}/+/+/status"
#: Ingest reads its own retained marks back after a restart.
DURABLE_FILTER = f"{PREFIX}/+/+/durable"
#: What the alerts service subscribes to.
ALERTS_FILTER = f"{PREFIX}/_alerts/#"
#: Where the alerts service confirms the alert events it stored; ingest reads it.
ALERT_RECEIPTS = f"{PREFIX}/_alert_receipts"
INVALID_FILTER = f"{PREFIX}/_invalid/#"
#: Where the alerts service publishes every fleet version, retained; ingest reads them.
FLEET_FILTER = f"{PREFIX}/_fleet/+"
#: The gateways retired so far, retained, from the alerts service. Under `_fleet/` so the
#: rights both accounts have on FLEET_FILTER (coldchain_io.dynsec) carry it.
RETIRED = f"{PREFIX}/_fleet/retired"

STATUS_ONLINE = b"online"
STATUS_OFFLINE = b"offline"

_ID = re.compile(r"[a-z0-9-]{1,64}")
_TELEMETRY = re.compile(rf"{PREFIX}/([^/]+)/([^/]+)/telemetry")
_STATUS = re.compile(rf"{PREFIX}/([^/]+)/([^/]+)/status")
_DURABLE = re.compile(rf"{PREFIX}/[^/]+/[^/]+/durable")
_FLEET = re.compile(rf"{PREFIX}/_fleet/([0-9]{{1,10}})")


def telemetry(site: str, gateway: str) -> str:
    return f"{PREFIX}/{site}/{gateway}/telemetry"


def status(site: str, gateway: str) -> str:
    return f"{PREFIX}/{site}/{gateway}/status"


def durable(site: str, gateway: str) -> str:
    return f"{PREFIX}/{site}/{gateway}/durable"


def alerts(site: str) -> str:
    return f"{PREFIX}/_alerts/{site}"


def fleet(version: int) -> str:
    return f"{PREFIX}/_fleet/{version}"


def is_fleet(topic: str) -> bool:
    return _FLEET.fullmatch(topic) is not None


def invalid(site: str, gateway: str) -> str:
    """Where a rejected message is republished; ids that are not valid become '_'."""
    return f"{PREFIX}/_invalid/{_or_placeholder(site)}/{_or_placeholder(gateway)}"


def parse_telemetry(topic: str) -> tuple[str, str] | None:
    """Site and gateway named by a telemetry topic, or None if it is not one."""
    match = _TELEMETRY.fullmatch(topic)
    return (match.group(1), match.group(2)) if match else None


def parse_status(topic: str) -> tuple[str, str] | None:
    """Site and gateway named by a status topic, or None if it is not one."""
    match = _STATUS.fullmatch(topic)
    return (match.group(1), match.group(2)) if match else None


def is_durable(topic: str) -> bool:
    return _DURABLE.fullmatch(topic) is not None


def _or_placeholder(value: str) -> str:
    return value if _ID.fullmatch(value) else "_"
