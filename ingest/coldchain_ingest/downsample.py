"""The 15-minute series of long-range panels, computed from the readings by the rollup job.

Why not a continuous query: InfluxDB runs a CQ over the last interval (or the last
`RESAMPLE FOR` span) of the clock, not of the readings. A gateway back after a
dead zone or an outage delivers readings hours or days late; a CQ would miss
them, or, with a `RESAMPLE FOR` long enough to catch them, compute days of every
probe again every 15 minutes. Ingest knows exactly which (sensor, local day) a
batch changes (the rollup job's marks, late readings included), so the rollup job
computes the downsampled buckets of a day whenever it computes that day's
compliance, with one `SELECT ... INTO` InfluxDB runs on its own data: nothing
travels, and a day computed again overwrites its buckets (same series, same times).

A local day is a whole number of buckets (coldchain.retention.BUCKET_S), so the
buckets of one day never straddle another.
"""

from __future__ import annotations

from datetime import datetime

from coldchain.measurements import TEMPERATURE, TEMPERATURE_15M
from coldchain.retention import BUCKET_S, DOWNSAMPLED_POLICY
from coldchain_io.influxql import literal
from coldchain_io.lineprotocol import nanoseconds

#: The fields of a bucket, as coldchain.measurements.TEMPERATURE_15M names them.
_AGGREGATES = (
    'min("temp_c") AS "min_c", mean("temp_c") AS "mean_c", max("temp_c") AS "max_c", '
    'sum("temp_c") AS "sum_c", count("temp_c") AS "samples"'
)


def query(sensor: str, start: datetime, end: datetime) -> str:
    """InfluxQL that writes the buckets of every series of `sensor` with readings in
    [start, end) (UTC, on bucket bounds) into the downsampled policy, tags kept."""
    return (
        f'SELECT {_AGGREGATES} INTO "{DOWNSAMPLED_POLICY}"."{TEMPERATURE_15M}" '
        f'FROM "{TEMPERATURE}" WHERE "sensor" = {literal(sensor)} '
        f"AND time >= {nanoseconds(start)} AND time < {nanoseconds(end)} "
        f"GROUP BY time({BUCKET_S}s), * fill(none)"
    )
