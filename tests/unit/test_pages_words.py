"""The pages' words, counts, time spans and timeline lines: pure, no server."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime, timedelta

import pytest

from coldchain import alerting
from coldchain_alerts import lifecycle
from coldchain_alerts.listing import Step
from coldchain_alerts.web import fleet, words
from coldchain_alerts.web.timeline import Line, lines

T0 = datetime(2025, 11, 3, 2, 10, tzinfo=UTC)


def _codes() -> set[str]:
    """Every code a WorkflowError is raised with, in the rules and in the service."""
    source = inspect.getsource(alerting) + inspect.getsource(lifecycle)
    return set(re.findall(r'(?:WorkflowError|super\(\).__init__)\(\s*"(\w+)"', source))


def test_every_refusal_has_a_sentence_in_german_and_english() -> None:
    codes = _codes()
    assert {"still_active", "reason_required", "decision_empty", "closing_incomplete"} <= codes
    for code in codes:
        entry = words.WORDS.get(f"error_{code}")
        assert entry is not None, f"no words for the refusal {code}"
        assert entry["de"] and entry["en"], code
        assert entry["de"] != entry["en"], code


def test_every_word_is_in_both_languages() -> None:
    for key, entry in [*words.WORDS.items(), *fleet.WORDS.items()]:
        assert set(entry) == {"de", "en"}, key
        assert all(entry.values()), key


@pytest.mark.parametrize(
    ("count", "german", "english"),
    [(1, "1-mal", "once"), (2, "2-mal", "2 times"), (12, "12-mal", "12 times")],
)
def test_times(count: int, german: str, english: str) -> None:
    assert words.times(count, "de") == german
    assert words.times(count, "en") == english


def test_a_span_within_a_day_names_the_day_once() -> None:
    later = T0 + timedelta(hours=2, minutes=45)
    assert words.span(T0, later, "de") == "03.11.2025 03:10 bis 05:55 MEZ"
    assert words.span(T0, later, "en") == "2025-11-03 03:10 to 05:55 CET"


def test_a_span_over_midnight_or_a_clock_change_names_both_ends() -> None:
    assert words.span(T0, T0 + timedelta(days=1), "de") == (
        "03.11.2025 03:10 MEZ bis 04.11.2025 03:10 MEZ"
    )
    summer_ends = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert words.span(summer_ends, summer_ends + timedelta(hours=1), "de") == (
        "26.10.2025 02:30 MESZ bis 26.10.2025 02:30 MEZ"
    )


@pytest.mark.parametrize(
    ("channel", "german", "english"),
    [("email", "E-Mail", "e-mail"), ("ntfy", "Push (ntfy)", "push (ntfy)"), ("x", "x", "x")],
)
def test_channels(channel: str, german: str, english: str) -> None:
    assert words.channel(channel, "de") == german
    assert words.channel(channel, "en") == english


def _step(seq: int, action: str, minutes: float, actor: str = "system", **detail: object) -> Step:
    return Step(seq, T0 + timedelta(minutes=minutes), actor, action, dict(detail))


def test_reminders_of_one_level_in_a_row_are_one_line() -> None:
    steps = [
        _step(1, "opened", 0),
        _step(2, "notified", 0, level=1),
        *(_step(3 + n, "reminded", 10 * (n + 1), level=1) for n in range(12)),
        _step(20, "acknowledged", 130, actor="anna", comment="on it"),
    ]
    shown = lines(steps)
    assert [line.step.action for line in shown] == [
        "opened",
        "notified",
        "reminded",
        "acknowledged",
    ]
    reminded = shown[2]
    assert reminded.count == 12
    assert reminded.first == T0 + timedelta(minutes=10)
    assert reminded.step.at == T0 + timedelta(minutes=120)
    assert reminded.step.seq == 14, "the line shows the last reminder's details"


def test_system_steps_between_two_of_people_are_one_line_per_action_and_level() -> None:
    steps = [
        _step(1, "reminded", 1, level=1),
        _step(2, "reminded", 2, level=1),
        _step(3, "escalated", 3, level=2),
        _step(4, "reminded", 4, level=1),
        _step(5, "decided", 5, actor="anna", cause="x"),
        _step(6, "reminded", 6, level=1),
        _step(7, "acknowledged", 7, actor="anna", comment="x"),
        _step(8, "acknowledged", 8, actor="ben", comment="y"),
    ]
    assert [(line.step.seq, line.count) for line in lines(steps)] == [
        (4, 3),
        (3, 1),
        (5, 1),
        (6, 1),
        (7, 1),
        (8, 1),
    ]


def test_failed_deliveries_of_a_line_are_counted() -> None:
    ok = {"contact": "a", "channel": "email", "ok": True}
    failed = {"contact": "a", "channel": "email", "ok": False}
    steps = [
        _step(1, "reminded", 1, level=1, deliveries=[failed, ok]),
        _step(2, "reminded", 2, level=1, deliveries=[failed]),
        _step(3, "reminded", 3, level=1, deliveries=[ok]),
    ]
    (line,) = lines(steps)
    assert (line.count, line.failed) == (3, 2)


def test_a_flapping_condition_does_not_grow_the_timeline() -> None:
    """A door opened and closed a thousand times while nobody looked: the page has a few
    lines, however long the night."""
    steps = [_step(1, "opened", 0), _step(2, "notified", 0, level=1)]
    for n in range(1000):
        steps.append(_step(3 + 3 * n, "cleared", n + 0.2))
        steps.append(_step(4 + 3 * n, "fired_again", n + 0.5, reopened=False))
        steps.append(_step(5 + 3 * n, "reminded", n + 0.8, level=1))
    shown = lines(steps)
    assert len(shown) <= 5
    assert sum(line.count for line in shown) == len(steps)
    assert {line.step.action: line.count for line in shown[2:]} == {
        "cleared": 1000,
        "fired_again": 1000,
        "reminded": 1000,
    }


def test_a_single_step_is_a_line_of_its_own() -> None:
    (line,) = lines([_step(1, "opened", 0)])
    assert line == Line(_step(1, "opened", 0), 1, T0)
