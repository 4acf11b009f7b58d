"""InfluxDB measurement, tag and field names. Documented in docs/influxdb-schema.md."""

TEMPERATURE = "temperature"
"""tags: site, gateway, sensor, asset; fields: temp_c (°C), seq. Time: the reading's ts."""

EVENT = "event"
"""tags: site, gateway, sensor, kind; fields: seq. Time: the event's ts."""

POSITION = "position"
"""tags: site, gateway; fields: lat, lon (degrees), seq. Time: the fix's ts."""

GATEWAY = "gateway"
"""tags: site, gateway; fields: battery_v (V), seq. Time: the message's sent_at."""

ALERT = "alert"
"""tags: site, rule, state, severity, and asset, sensor, gateway where the alarm has them;
fields: key, started_ns, and value_c, peak_c, limit_c where known. Time: at (reading time)."""

EXCURSION = "excursion"
"""tags: site, asset, sensor, rule, severity; fields: ended (bool), alarmed (bool),
duration_s, peak_c, degree_minutes (K·min), limit_c, regulatory_limit_c, end_ns.
Time: the excursion's start, so its record is overwritten as it grows and ends."""
