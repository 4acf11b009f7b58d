"""coldchain ingest: MQTT telemetry -> validation -> InfluxDB -> rules -> alert events."""
