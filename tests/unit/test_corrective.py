"""Which excursion an alert's closing answers (coldchain.corrective)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coldchain.compliance import Excursion
from coldchain.corrective import ClosedAlert, answered

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def excursion(start: float, end: float) -> Excursion:
    return Excursion(at(start), at(end), peak_c=8.0, degree_minutes=1.0)


def closing(
    alert_id: str, started: float, closed: float, severity: str = "critical"
) -> ClosedAlert:
    return ClosedAlert(
        alert_id=alert_id,
        severity=severity,
        started_at=at(started),
        closed_at=at(closed),
        actor="m.mueller",
        cause="",
        corrective_action="",
        product_decision="release",
        comment="",
    )


EXCURSIONS = [excursion(0, 30), excursion(60, 70), excursion(200, 210)]


def ids(result: list[list[ClosedAlert]]) -> list[list[str]]:
    return [[c.alert_id for c in closings] for closings in result]


def test_an_alert_answers_the_excursion_it_began_in() -> None:
    assert ids(answered(EXCURSIONS, [closing("a", 0, 90), closing("b", 65, 300)])) == [
        ["a"],
        ["b"],
        [],
    ]


def test_an_alert_that_began_before_answers_the_next_excursion_if_it_began_before_closing() -> None:
    escalated = closing("warning first", 50, 80)
    closed_early = closing("closed before 200", 100, 150)
    assert ids(answered(EXCURSIONS, [escalated, closed_early])) == [[], ["warning first"], []]


def test_warnings_and_alerts_after_the_last_excursion_answer_none() -> None:
    result = answered(EXCURSIONS, [closing("w", 0, 40, severity="warning"), closing("x", 220, 230)])
    assert ids(result) == [[], [], []]


def test_several_closings_of_one_excursion_in_the_order_they_were_closed() -> None:
    result = answered(EXCURSIONS, [closing("late", 1, 500), closing("soon", 2, 40)])
    assert ids(result) == [["soon", "late"], [], []]
    assert answered([], [closing("a", 0, 1)]) == []
