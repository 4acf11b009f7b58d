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
STATE_WRITE_FAILURES = Counter(
    "coldchain_ingest_state_write_failures", "Writes to the state file that SQLite refused."
)
ALERT_EVENTS = Counter("coldchain_ingest_alert_events", "Alert events raised or cleared.")
BACKLOG = Gauge("coldchain_ingest_backlog", "Messages received and not yet acknowledged.")
READINGS_LATE = Counter(
    "coldchain_ingest_readings_late",
    "Readings stored but not evaluated: not newer than the last evaluated for their sensor.",
)
MESSAGES_DROPPED = Counter(
    "coldchain_ingest_messages_dropped",
    "QoS 0 messages dropped because too many waited (QoS 0 has no flow control).",
)
REFUSED_BY_INFLUXDB = Counter(
    "coldchain_ingest_refused_by_influxdb",
    "Messages and alert record sets InfluxDB refused, kept in the dead-letter store.",
)
DEAD_LETTERS = Gauge(
    "coldchain_ingest_dead_letters",
    "Messages and record sets InfluxDB refused that wait in the dead-letter store.",
)
ALERT_EVENTS_UNCONFIRMED = Gauge(
    "coldchain_ingest_alert_events_unconfirmed",
    "Alert events kept in the outbox until the alerts service confirms them.",
)
READINGS_AFTER_RETIREMENT = Counter(
    "coldchain_ingest_readings_after_retirement",
    "Readings and events refused: taken by a retired gateway after its retirement.",
)
GAPS_NOT_FILLED = Counter(
    "coldchain_ingest_gaps_not_filled",
    "Times a gateway's later messages were judged without missing ones that did not come "
    "within gap_wait_s (NATS cluster; their readings are stored when they come, not judged).",
)
MESSAGES_WAITING = Gauge(
    "coldchain_ingest_messages_waiting",
    "Messages above a gap in their gateway's seq numbers, waiting for the missing ones.",
)
