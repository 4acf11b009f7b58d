"""How long InfluxDB keeps the records, and the downsampled series of long-range panels.

Food law asks for temperature records kept at least one year (Reg. (EC) 37/2005);
five years is common practice in Germany. A day counts as a whole day here, so one
year is 366 days (a leap year) and five years 1827 (a span with two leap days).
"""

from __future__ import annotations

from coldchain.errors import RetentionTooShort

#: The shortest retention coldchain accepts, days: one year, a leap year included.
MIN_RETENTION_DAYS = 366
#: The retention of the readings unless configured, days: five years, two leap days included.
DEFAULT_RETENTION_DAYS = 1827

#: The retention policy of the readings and every other record: the database's default
#: one (named `autogen` in a database InfluxDB or coldchain made).
RAW_POLICY_FALLBACK = "autogen"
#: Shard group duration of the default policy, days: InfluxDB's own choice for
#: policies of six months and more, written out so that setup states every number.
RAW_SHARD_DAYS = 7
#: The retention policy of the downsampled series (coldchain.measurements.TEMPERATURE_15M).
DOWNSAMPLED_POLICY = "downsampled"
#: Shard group duration of the downsampled policy, days: its points are few (96 a probe
#: and day), so a long range reads a few large shards instead of hundreds of small ones.
DOWNSAMPLED_SHARD_DAYS = 28
#: Length of one downsampled bucket, s. A divisor of every UTC offset in use (even
#: +05:45), so a local day is a whole number of buckets.
BUCKET_S = 900


def check_retention_days(days: int) -> int:
    """`days` if it is at least MIN_RETENTION_DAYS; raises RetentionTooShort, with the
    rule to follow, otherwise."""
    if days < MIN_RETENTION_DAYS:
        raise RetentionTooShort(
            f"a retention of {days} days is shorter than one year ({MIN_RETENTION_DAYS} days): "
            "food law (Reg. (EC) 37/2005) asks for temperature records kept at least one "
            f"year, five years ({DEFAULT_RETENTION_DAYS} days, the default) is common practice"
        )
    return days
