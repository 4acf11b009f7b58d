"""Escalation and reminders, as pure functions: who is told, when."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from coldchain.contract import Severity
from coldchain.escalation import Policy, Progress, Reason, next_step, plan, told

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=30)
POLICY = Policy(levels=3, ack_timeout=timedelta(minutes=15), reminder_interval=None)


def _open(alert_id: int = 1, severity: Severity = Severity.CRITICAL, **kw: object) -> Progress:
    return Progress(alert_id=alert_id, severity=severity, waiting=True, since=T0, **kw)  # type: ignore[arg-type]


def _run_until(
    progress: Progress, policy: Policy, end: datetime
) -> list[tuple[datetime, Reason, int]]:
    """Run the plan at every due time until `end`, every message getting through."""
    sent = []
    now = T0
    while now <= end:
        result = plan([progress], policy, now, WINDOW)
        for (level, reason), steps in sorted(result.sends.items()):
            sent.append((now, reason, level))
            for step in steps:
                if level == max(step.levels):
                    progress = told(progress, step, now, got_through=True)
        again = plan([progress], policy, now, WINDOW)
        if again.sends:
            continue
        if again.next_run is None:
            break
        now = again.next_run
    return sent


def test_a_new_critical_alert_waits_the_window_then_escalates_level_by_level() -> None:
    sent = _run_until(_open(), POLICY, T0 + timedelta(hours=2))
    assert sent == [
        (T0 + WINDOW, Reason.NEW, 1),
        (T0 + WINDOW + timedelta(minutes=15), Reason.ESCALATION, 2),
        (T0 + WINDOW + timedelta(minutes=30), Reason.ESCALATION, 3),
    ]


def test_reminders_go_to_every_level_told_so_far() -> None:
    policy = Policy(
        levels=2, ack_timeout=timedelta(minutes=15), reminder_interval=timedelta(minutes=10)
    )
    sent = _run_until(_open(), policy, T0 + WINDOW + timedelta(minutes=35))
    first = T0 + WINDOW
    assert sent == [
        (first, Reason.NEW, 1),
        (first + timedelta(minutes=10), Reason.REMINDER, 1),
        (first + timedelta(minutes=15), Reason.ESCALATION, 2),
        (first + timedelta(minutes=25), Reason.REMINDER, 1),
        (first + timedelta(minutes=25), Reason.REMINDER, 2),
        (first + timedelta(minutes=35), Reason.REMINDER, 1),
        (first + timedelta(minutes=35), Reason.REMINDER, 2),
    ]


def test_a_warning_is_told_to_level_one_once() -> None:
    policy = Policy(
        levels=3, ack_timeout=timedelta(minutes=1), reminder_interval=timedelta(minutes=1)
    )
    sent = _run_until(_open(severity=Severity.WARNING), policy, T0 + timedelta(hours=1))
    assert sent == [(T0 + WINDOW, Reason.NEW, 1)]


def test_acknowledged_alerts_are_not_told() -> None:
    progress = Progress(alert_id=1, severity=Severity.CRITICAL, waiting=False, since=T0)
    assert next_step(progress, POLICY, WINDOW) is None
    assert plan([progress], POLICY, T0 + timedelta(days=1), WINDOW).next_run is None


def test_a_level_nobody_heard_is_skipped_at_once() -> None:
    progress = _open(level=1, level_at=T0, level_ok=False, told_at=T0)
    step = next_step(progress, POLICY, WINDOW)
    assert step is not None
    assert (step.reason, step.levels, step.due) == (Reason.ESCALATION, (2,), T0)


def test_a_flood_is_one_message_per_level() -> None:
    alerts = [_open(alert_id=n) for n in range(20)]
    alerts += [
        Progress(
            alert_id=100 + n,
            severity=Severity.CRITICAL,
            waiting=True,
            since=T0 + timedelta(seconds=n),
        )
        for n in range(20)
    ]
    result = plan(alerts, POLICY, T0 + WINDOW, WINDOW)
    assert list(result.sends) == [(1, Reason.NEW)]
    assert sorted(step.alert_id for step in result.sends[(1, Reason.NEW)]) == sorted(
        [n for n in range(20)] + [100 + n for n in range(20)]
    )


def test_an_alert_opened_later_than_the_window_waits_for_its_own_run() -> None:
    late = Progress(
        alert_id=2, severity=Severity.CRITICAL, waiting=True, since=T0 + timedelta(minutes=5)
    )
    result = plan([_open(), late], POLICY, T0 + WINDOW, WINDOW)
    assert [s.alert_id for s in result.sends[(1, Reason.NEW)]] == [1]
    assert result.next_run == late.since + WINDOW


@given(
    levels=st.integers(1, 4),
    timeout_min=st.integers(1, 120),
    reminder_min=st.none() | st.integers(1, 120),
    hours=st.integers(1, 24),
)
def test_escalation_never_skips_a_level_nor_tells_a_level_early(
    levels: int, timeout_min: int, reminder_min: int | None, hours: int
) -> None:
    policy = Policy(
        levels,
        timedelta(minutes=timeout_min),
        None if reminder_min is None else timedelta(minutes=reminder_min),
    )
    sent = _run_until(_open(), policy, T0 + timedelta(hours=hours))
    firsts = [(at, level) for at, reason, level in sent if reason is not Reason.REMINDER]
    assert [level for _, level in firsts] == list(range(1, len(firsts) + 1))
    for (earlier, _), (later, _) in itertools.pairwise(firsts):
        assert later - earlier >= policy.ack_timeout - WINDOW
    reached = 0
    for _, reason, level in sent:
        if reason is Reason.REMINDER:
            assert level <= reached
        else:
            reached = level
