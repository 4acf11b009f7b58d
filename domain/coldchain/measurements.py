"""InfluxDB measurement, tag and field names. Documented in docs/influxdb-schema.md."""

TEMPERATURE = "temperature"
"""tags: site, gateway, sensor, asset; fields: temp_c (°C), seq. Time: the reading's ts."""

TEMPERATURE_15M = "temperature_15m"
"""In the retention policy coldchain.retention.DOWNSAMPLED_POLICY, written by ingest's
rollup job from `temperature`: one point per series of `temperature` and 15 minutes.
tags: those of `temperature`; fields: min_c, mean_c, max_c, sum_c (°C), samples (integer,
readings in the bucket). Time: the bucket's start. For long-range panels; compliance
numbers come from the readings themselves."""

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

COMPLIANCE_DAILY = "compliance_daily"
"""Written by ingest's rollup job (coldchain.rollup), one point per sensor and local day.
tags: site, asset, sensor; fields: the day's numbers from coldchain.compliance.daily_stats
against the alarm band and the legal maximum (coldchain.rollup.DayRecord.fields).
Time: the day's local midnight, so computing the day again overwrites its point."""

ALERT_ACTION = "alert_action"
"""Written by the alerts service, one point per alert for each step taken on it.
tags: site, alert_id, action (opened, raised, fired_again, severity_raised, cleared,
acknowledged, closed, notified, reminded, escalated), severity, and asset, sensor,
gateway where the alert has them; fields: actor (string: a user name or "system"),
comment (string), started_ns (integer, ns: when the alert's condition began, in reading
time, as in its `alert` events; reports match a closing with the excursion it answers
by it), and for `closed` cause, corrective_action, product_decision (release,
quarantine, discard); for notified/reminded/escalated level (integer).
Time: when the step was taken (UTC, the service's clock)."""

AUDIT_CHAIN = "audit_chain"
"""Written by the alerts service, one point per audit-log entry: a copy of the chain
kept outside its database. fields: seq (integer), sha256 (string), action (string),
actor (string). Time: the entry's time."""

AUDIT_VERIFY = "audit_verify"
"""Written by the alerts service each time it verifies the audit-log chain.
fields: ok (boolean), entries (integer), first_bad_seq (integer, 0 when ok),
problem (string, empty when ok). Time: when verified."""

CALIBRATION = "calibration"
"""Written by the alerts service, one point per check entered in its calibration register
(coldchain.calibration). tags: site, asset, sensor, check (the register's id of the
check); fields: checked_on, due_on (string, YYYY-MM-DD, local days of the site),
reference, checked_by (string, empty when not recorded), deviation_k (float, K, when
recorded). Time: when the check was entered. Ingest's rollup reads them to mark the
days the probe was unverified."""

FLEET_LIMITS = "fleet_limits"
"""Written by ingest for each fleet version it takes (docs/fleet.md), one point per asset.
tags: site, asset; fields: version (integer), category (string), regulatory_max_c,
max_c, warn_max_c, min_c, warn_min_c, absolute_max_c (°C, where set), delay_s (s),
changed_by (string), reason (string). Time: the version's valid_from, so reports find
which limits applied to a reading from the last point at or before its time."""
