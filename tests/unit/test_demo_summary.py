"""The demo's summary line in German and English: every count and duration in words."""

from __future__ import annotations

from typing import Any

import pytest

from coldchain_devstack.demo_summary import asset_names, open_alerts
from coldchain_devstack.stack import DEMO_FLEET

NAMES = asset_names(DEMO_FLEET)


def alert(**changes: Any) -> dict[str, Any]:
    """Van 2, too warm for a day, unacknowledged, as the API lists it."""
    return {
        "site": "dortmund-hub",
        "asset": "van-2-chilled",
        "sensor": "van-2.chilled",
        "gateway": None,
        "rule": "over_max",
        "severity": "critical",
        "standing": "unacknowledged",
        "active": True,
        "opened_at": "2026-12-06T10:00:00Z",
        "duration_s": 86_400.0,
        "value_c": 26.04,
        "peak_c": 26.3,
    } | changes


def test_one_open_alert_in_german() -> None:
    assert open_alerts([alert()], "de", NAMES) == (
        "1 offener Alarm (unbestätigt: 1, Entscheidung fällig: 0): Transporter 2, Kühlfach – "
        "zu warm seit 1 Tag, 26,0 °C, Spitzenwert 26,3 °C, unbestätigt"
    )


def test_one_open_alert_in_english() -> None:
    assert open_alerts([alert(standing="decision_due")], "en", NAMES) == (
        "1 open alert (unacknowledged: 0, decision due: 1): Van 2, chilled compartment – "
        "too warm for 1 day, 26.0 °C, peak 26.3 °C, decision due"
    )


@pytest.mark.parametrize(
    ("count", "german", "english"),
    [(0, "keine offenen Alarme", "no open alerts"), (2, "2 offene Alarme", "2 open alerts")],
)
def test_counts(count: int, german: str, english: str) -> None:
    alerts = [alert() for _ in range(count)]
    assert open_alerts(alerts, "de", NAMES).startswith(german)
    assert open_alerts(alerts, "en", NAMES).startswith(english)


@pytest.mark.parametrize(
    ("count", "german", "english"),
    [(4, "; und 1 weiterer", "; and 1 more"), (5, "; und 2 weitere", "; and 2 more")],
)
def test_more_than_three_are_counted(count: int, german: str, english: str) -> None:
    alerts = [alert() for _ in range(count)]
    assert open_alerts(alerts, "de", NAMES).endswith(german)
    assert open_alerts(alerts, "en", NAMES).endswith(english)


def test_the_most_severe_and_least_done_come_first() -> None:
    alerts = [
        alert(severity="warning", rule="over_warning", asset="freezer-1"),
        alert(standing="acknowledged", asset="cold-room-1"),
        alert(asset="cold-room-2", duration_s=90.0, value_c=-2.0, peak_c=-2.5, rule="under_min"),
    ]
    assert open_alerts(alerts, "de", NAMES).split("): ", 1)[1] == (
        "Kühlraum 2 (Geflügel) – zu kalt seit 1 min, -2,0 °C, Tiefstwert -2,5 °C, unbestätigt; "
        "Kühlraum 1 (Molkereiprodukte) – zu warm seit 1 Tag, 26,0 °C, Spitzenwert 26,3 °C, "
        "bestätigt; "
        "Tiefkühlraum 1 – wird zu warm (Warnstufe) seit 1 Tag, 26,0 °C, Spitzenwert 26,3 °C, "
        "unbestätigt"
    )
