"""What people do with an alert: acknowledge it, then close it with a corrective action.

An alert is what a hygiene officer works on: one alarm *condition* (a rule at a
subject, e.g. "temperature above limits at van-2.chilled") from the moment it
fires until someone closes it. The rule engine may raise the same condition
several times while the alert is still open (it clears and fires again, or gets
worse); each raise is an *occurrence* of the same alert, not a new alert.

    open --acknowledge--> acknowledged --close--> closed
      ^                        |
      +---- fires again -------+   (or gets more severe: people must look again)

Closing needs the condition cleared, and for an alert that reached critical
severity a corrective action (cause, what was done) and a product decision
(HACCP, Reg. (EC) 852/2004). Pure: the alerts service applies these rules to its
database rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from coldchain.contract import AlertEvent, Severity
from coldchain.engine import GATEWAY_EVENT_RULES, LEVEL_RANK
from coldchain.errors import ColdchainError

#: Rules that report a moment, not a state: they are never cleared by the engine.
MOMENTARY_RULES = frozenset(GATEWAY_EVENT_RULES.values())
#: Longest comment, cause or action text accepted (characters).
MAX_TEXT = 4000


class Status(StrEnum):
    OPEN = "open"
    """Nobody has acknowledged it (yet, or since it fired again)."""
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class ProductDecision(StrEnum):
    """What happens to the goods the alert concerns."""

    RELEASE = "release"
    QUARANTINE = "quarantine"
    DISCARD = "discard"


class WorkflowError(ColdchainError):
    """A step that is not allowed now; `code` names the reason for translated pages."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def condition_of(event: AlertEvent) -> str:
    """The condition an event belongs to: its key without the start time.

    Keys are `{rule family}/{subject}/{started_at}` (domain/coldchain/engine.py); an
    ISO timestamp holds no slash, so everything before the last slash names the
    condition, the same for every occurrence of it.
    """
    condition, slash, _ = event.key.rpartition("/")
    return condition if slash else event.key


def more_severe(a: Severity | str, b: Severity | str) -> Severity:
    """The more severe of two severities."""
    ranked = [Severity.WARNING, Severity.CRITICAL]
    return max(Severity(a), Severity(b), key=ranked.index)


def gets_worse(rule: str, severity: Severity | str, event: AlertEvent) -> bool:
    """Whether `event` is worse than a raise of `rule` at `severity`: more severe, or a
    higher temperature level of the same condition (the absolute limit after the
    maximum, both critical)."""
    if more_severe(severity, event.severity) is not Severity(severity):
        return True
    return LEVEL_RANK.get(event.rule, 0) > LEVEL_RANK.get(rule, 0)


@dataclass(frozen=True)
class Closing:
    """What a person records when closing an alert."""

    cause: str = ""
    corrective_action: str = ""
    product_decision: ProductDecision | None = None
    comment: str = ""


def check_acknowledge(status: Status, comment: str) -> str:
    """The comment to record when acknowledging; raises WorkflowError if not allowed."""
    if status is not Status.OPEN:
        raise WorkflowError(
            "not_open", f"the alert is {status.value}; only an open alert can be acknowledged"
        )
    text = comment.strip()
    if not text:
        raise WorkflowError(
            "comment_required", "say in a comment what you are doing about it, then acknowledge"
        )
    _check_length("comment", text)
    return text


def check_close(status: Status, active: bool, severity: Severity, closing: Closing) -> Closing:
    """The closing to record, texts trimmed; raises WorkflowError if not allowed.

    Needs the alert acknowledged and its condition cleared. An alert that reached
    critical severity also needs a cause, a corrective action and a product decision.
    """
    if status is not Status.ACKNOWLEDGED:
        raise WorkflowError(
            "not_acknowledged",
            f"the alert is {status.value}; acknowledge it before closing it",
        )
    if active:
        raise WorkflowError(
            "still_active",
            "the condition is still present; close the alert once it has cleared",
        )
    cleaned = Closing(
        cause=closing.cause.strip(),
        corrective_action=closing.corrective_action.strip(),
        product_decision=closing.product_decision,
        comment=closing.comment.strip(),
    )
    for name in ("cause", "corrective_action", "comment"):
        _check_length(name, getattr(cleaned, name))
    if severity is Severity.CRITICAL:
        missing = [
            name
            for name, value in (
                ("cause", cleaned.cause),
                ("corrective_action", cleaned.corrective_action),
                ("product_decision", cleaned.product_decision),
            )
            if not value
        ]
        if missing:
            raise WorkflowError(
                "closing_incomplete",
                "a critical alert is closed only with a cause, a corrective action and a "
                f"product decision; missing: {', '.join(missing)}",
            )
    return cleaned


def _check_length(name: str, text: str) -> None:
    if len(text) > MAX_TEXT:
        raise WorkflowError(
            "too_long", f"{name} is {len(text)} characters long; at most {MAX_TEXT} are kept"
        )
