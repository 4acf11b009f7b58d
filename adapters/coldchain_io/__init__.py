"""coldchain_io: the adapters the deployable parts share, one module per technology.

Between the pure domain (`coldchain`) and the deployables (gateway, ingest,
alerts, reports): `mqtt` (a paho client with credentials, TLS and reconnects,
and the MQTT settings), `influx` (the HTTP connection to InfluxDB's 1.x API and
the readings a period's compliance is judged on), `lineprotocol` and `influxql`
(what is written to and asked of InfluxDB), `sqlite` (state files and their
transactions), `fleetfile` (reading the fleet file) and `logs` (the log format).
Each translates between the domain and one technology and decides nothing; it
imports no deployable (import-linter checks: docs/architecture.md).
"""
