"""Errors of the ingest service."""


class IngestError(Exception):
    """Base of the ingest service's errors."""


class InfluxUnavailable(IngestError):
    """InfluxDB could not be reached or failed; the write may be retried as it is."""


class InfluxRejected(IngestError):
    """InfluxDB refused the points themselves (HTTP 4xx); retrying them unchanged won't help."""


class RetentionRefused(IngestError):
    """Shortening a retention policy as configured would delete records; it was left as it was."""


class PartitionLost(IngestError):
    """A worker of the cluster no longer owns a partition: another wrote its checkpoint,
    or the worker was asked to stop while the cluster did not answer."""
