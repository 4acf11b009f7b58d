"""coldchain admin: back up the hub's records and restore them onto fresh servers.

`coldchain-admin backup DIR` and `restore DIR` (cli.py); `serve` makes a backup on a
schedule and keeps a number of generations (schedule.py). What a backup holds and how
it is checked is the manifest's (manifest.py); each store has its own module:
InfluxDB (influx.py), the alerts service's SQL store (sqlstore.py), SQLite state files
(statefile.py).
"""
