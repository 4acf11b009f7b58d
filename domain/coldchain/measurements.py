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
"""tags: site, asset, sensor, rule, state; fields: value_c, peak_c, limit_c, key. Time: at."""
