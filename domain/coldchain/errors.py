"""Errors of the domain package. Messages say what was wrong and what to do."""


class ColdchainError(Exception):
    """Base of every error raised by the domain package."""


class InvalidMessage(ColdchainError):
    """A message broke the wire contract; the text is the reason sent back to its author."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AheadOfClock(InvalidMessage):
    """A message stamped too far ahead of the receiver's clock. Either clock may be the
    wrong one, so the message `seq` of its gateway must not be confirmed as handled."""

    def __init__(self, reason: str, seq: int) -> None:
        super().__init__(reason)
        self.seq = seq


class FleetConfigError(ColdchainError):
    """The fleet file (sites, gateways, sensors, assets) is inconsistent."""


class RetentionTooShort(ColdchainError, ValueError):
    """A retention shorter than food law allows (coldchain.retention.MIN_RETENTION_DAYS)."""
