"""Errors of the gateway."""


class GatewayError(Exception):
    """Base of the gateway's errors."""


class OutboxError(GatewayError):
    """The outbox file cannot be used as it is; the message says what to do."""
