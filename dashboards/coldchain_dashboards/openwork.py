"""Open work: the alerts that are not closed and what each asks of people, from InfluxDB.

The alerts service records every step on an alert as an `alert_action` point, with the
alert's standing after the step (`coldchain.alerting.standing`: unacknowledged,
decision_due, acknowledged, closed). An alert's latest point therefore holds its
standing now, and these queries count and list by the same definition as the inbox,
the API and the demo's summary. They read every point, not the dashboard's time range:
an alert opened a month ago and still open is open work today.
"""

from __future__ import annotations

from coldchain import measurements
from coldchain.alerting import Standing
from coldchain_dashboards.influxql import SITE_FILTER

#: The latest standing of every alert of the site, one row per alert.
_LATEST = (
    'SELECT last("standing") AS "standing", "severity", "asset", "sensor", "gateway" '
    f'FROM "{measurements.ALERT_ACTION}" WHERE {SITE_FILTER} GROUP BY "alert_id"'
)
_NOT_CLOSED = f"\"standing\" != '{Standing.CLOSED.value}'"


def counts() -> dict[str, str]:
    """The number of open alerts, and of those unacknowledged and with a decision due,
    one query each by its refId."""
    count = f'SELECT count("standing") FROM ({_LATEST})'
    return {
        "open": f"{count} WHERE {_NOT_CLOSED}",
        **{
            standing.value: f"{count} WHERE \"standing\" = '{standing.value}'"
            for standing in (Standing.UNACKNOWLEDGED, Standing.DECISION_DUE)
        },
    }


def listing() -> str:
    """Every open alert with its standing, severity, asset, sensor and gateway; newest
    step first."""
    return (
        'SELECT "alert_id", "standing", "severity", "asset", "sensor", "gateway" '
        f"FROM ({_LATEST}) WHERE {_NOT_CLOSED} ORDER BY time DESC"
    )
