"""coldchain ingest: MQTT telemetry -> validation -> InfluxDB -> rules -> alert events."""

import sys

# httpx imports its command-line client whenever click, rich and pygments are installed
# (encode/httpx#3547): 4.7 MB of RSS that ingest, with a budget of 100 MB at 10 000
# probes, never uses. Marked missing, the import fails and httpx goes on without it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
