"""Print where to look while `make demo` runs (ports from the environment)."""

import os

mqtt = os.environ.get("MQTT_PORT", "1883")
influx = os.environ.get("INFLUX_PORT", "8086")
alerts = os.environ.get("ALERTS_PORT", "8000")
metrics = os.environ.get("METRICS_PORT", "9108")

print(
    f"""
coldchain demo: the Dortmund hub (2 cold rooms, 1 freezer, 3 vans), a reading every 5 s.
Van 2's chilled compressor fails after one minute; its alert appears within two.

  alerts        http://127.0.0.1:{alerts}/api/v1/alerts   (API docs: /docs)
  MQTT          mosquitto_sub -p {mqtt} -t 'coldchain/#' -v
  InfluxDB      influx -port {influx} -database coldchain \\
                  -execute 'SELECT last(temp_c) FROM temperature GROUP BY sensor'
  ingest        http://127.0.0.1:{metrics}/metrics
  data          ./var  (make clean-demo starts afresh)

A summary line follows every 5 s. Ctrl-C stops everything.
"""
)
