"""Print where to look while `make demo` runs (ports from the environment)."""

import os

mqtt = os.environ.get("MQTT_PORT", "1883")
influx = os.environ.get("INFLUX_PORT", "8086")
alerts = os.environ.get("ALERTS_PORT", "8000")
metrics = os.environ.get("METRICS_PORT", "9108")
mail = os.environ.get("MAIL_PORT", "1025")

print(
    f"""
coldchain demo: the Dortmund hub (2 cold rooms, 1 freezer, 3 vans), a reading every 5 s.
Van 2's chilled compressor fails after one minute; its alert appears within two, and
the shift lead is e-mailed. Nobody acknowledges? After 2 more minutes the hygiene
officer on call is e-mailed too, and both are reminded every minute.

  alerts        http://127.0.0.1:{alerts}/alerts   log in as hygiene / kuehlkette-demo
                (auditor: pruefer, admin: admin; same password). API docs: /docs
  e-mail        var/mail/*.eml, caught on 127.0.0.1:{mail}; each shows as a "mail to" line
  MQTT          mosquitto_sub -p {mqtt} -t 'coldchain/#' -v
  InfluxDB      influx -port {influx} -database coldchain \\
                  -execute 'SELECT last(temp_c) FROM temperature GROUP BY sensor'
  ingest        http://127.0.0.1:{metrics}/metrics
  data          ./var  (make clean-demo starts afresh)

A summary line follows every 5 s. Ctrl-C stops everything.
"""
)
