"""Errors of the domain package. Messages say what was wrong and what to do."""


class ColdchainError(Exception):
    """Base of every error raised by the domain package."""


class InvalidMessage(ColdchainError):
    """A message broke the wire contract; the text is the reason sent back to its author."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FleetConfigError(ColdchainError):
    """The fleet file (sites, gateways, sensors, assets) is inconsistent."""
