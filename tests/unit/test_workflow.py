"""The alert workflow's rules: acknowledge, close, what a closing needs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain.workflow import (
    MAX_TEXT,
    Closing,
    ProductDecision,
    Status,
    WorkflowError,
    check_acknowledge,
    check_close,
    condition_of,
    more_severe,
)

COMPLETE = Closing(
    cause="compressor failed",
    corrective_action="goods moved to cold room 2",
    product_decision=ProductDecision.QUARANTINE,
)


def test_the_condition_is_the_key_without_its_start() -> None:
    event = AlertEvent(
        key="temperature_above/van-2.chilled/2026-11-26T02:00:00+00:00",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site="dortmund-hub",
        started_at=datetime(2026, 11, 26, 2, tzinfo=UTC),
        at=datetime(2026, 11, 26, 2, 15, tzinfo=UTC),
    )
    assert condition_of(event) == "temperature_above/van-2.chilled"


def test_more_severe() -> None:
    assert more_severe("warning", Severity.CRITICAL) is Severity.CRITICAL
    assert more_severe(Severity.WARNING, "warning") is Severity.WARNING


def test_acknowledging_needs_an_open_alert_and_a_comment() -> None:
    assert check_acknowledge(Status.OPEN, "  on my way  ") == "on my way"
    with pytest.raises(WorkflowError) as empty:
        check_acknowledge(Status.OPEN, "   ")
    assert empty.value.code == "comment_required"
    with pytest.raises(WorkflowError) as twice:
        check_acknowledge(Status.ACKNOWLEDGED, "again")
    assert twice.value.code == "not_open"
    with pytest.raises(WorkflowError) as long:
        check_acknowledge(Status.OPEN, "x" * (MAX_TEXT + 1))
    assert long.value.code == "too_long"


def test_closing_a_critical_alert_needs_cause_action_and_decision() -> None:
    closed = check_close(Status.ACKNOWLEDGED, False, Severity.CRITICAL, COMPLETE)
    assert closed.product_decision is ProductDecision.QUARANTINE
    for missing in (
        Closing(cause="", corrective_action="x", product_decision=ProductDecision.DISCARD),
        Closing(cause="x", corrective_action=" ", product_decision=ProductDecision.DISCARD),
        Closing(cause="x", corrective_action="y", product_decision=None),
    ):
        with pytest.raises(WorkflowError) as incomplete:
            check_close(Status.ACKNOWLEDGED, False, Severity.CRITICAL, missing)
        assert incomplete.value.code == "closing_incomplete"


def test_a_warning_closes_with_a_comment_only() -> None:
    closed = check_close(Status.ACKNOWLEDGED, False, Severity.WARNING, Closing(comment=" ok "))
    assert closed == Closing(comment="ok")


def test_closing_needs_acknowledged_and_cleared() -> None:
    with pytest.raises(WorkflowError) as unacknowledged:
        check_close(Status.OPEN, False, Severity.CRITICAL, COMPLETE)
    assert unacknowledged.value.code == "not_acknowledged"
    with pytest.raises(WorkflowError) as active:
        check_close(Status.ACKNOWLEDGED, True, Severity.CRITICAL, COMPLETE)
    assert active.value.code == "still_active"
    with pytest.raises(WorkflowError):
        check_close(Status.CLOSED, False, Severity.CRITICAL, COMPLETE)
