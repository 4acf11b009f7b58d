"""Prometheus metrics of the ingest service (served on /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter(
    "coldchain_ingest_messages_received", "Telemetry messages taken from the broker."
)
MESSAGES_INVALID = Counter(
    "coldchain_ingest_messages_invalid", "Messages rejected and republished on _invalid."
)
MESSAGES_ACKED = Counter(
    "coldchain_ingest_messages_acked", "Messages acknowledged to the broker after storing."
)
READINGS_WRITTEN = Counter(
    "coldchain_ingest_readings_written", "Readings written to InfluxDB (repeats included)."
)
WRITE_SECONDS = Histogram("coldchain_ingest_write_seconds", "Duration of one InfluxDB write.")
WRITE_FAILURES = Counter("coldchain_ingest_write_failures", "InfluxDB writes that failed.")
ALERT_EVENTS = Counter("coldchain_ingest_alert_events", "Alert events raised or cleared.")
BACKLOG = Gauge("coldchain_ingest_backlog", "Messages received and not yet acknowledged.")
READINGS_LATE = Counter(
    "coldchain_ingest_readings_late",
    "Readings stored but not evaluated: not newer than the last evaluated for their sensor.",
)
