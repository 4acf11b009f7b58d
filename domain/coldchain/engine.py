"""The rule engine: every alarm rule of every sensor, asset and gateway, in reading time.

Pure and deterministic: it reads no clock (callers pass `now` where a silent
sensor must be noticed) and does no I/O. Its whole state is a pydantic model, so
ingest can store it after each batch and a restart continues where it stopped.

Rules (names as in alert events; limits from coldchain.limits.Limits):

- `over_max`, `under_min` (critical) and `over_warning`, `under_warning`
  (warning): a level passed for `delay_s`, ended by `hysteresis_k`;
- `over_absolute` (critical): `absolute_max_c` passed, at once;
- `budget` (critical): time above `max_c` summed over `budget_window_s` exceeds
  `budget_s`; a dip back inside does not reset it;
- `door_open` (warning): a door open longer than `door_open_max_s`;
- `implausible`, `stuck`, `jump`, `no_data` (sensor health, warning), and
  `offline`, `battery_low`, `clock_jump`, `outbox_thinned` (gateway health,
  warning; the last two are one alarm per report, cleared by a person).

A door opening suppresses the delayed temperature rules for `door_grace_s`, a
defrost (event or schedule) for `defrost_grace_s`; `over_absolute` is
suppressed by defrost only. Suppression never hides an excursion that lasts
longer than its delay plus the longest grace.

Readings are evaluated in timestamp order per sensor. A reading not newer than
the last one evaluated for its sensor (a repeat after a redelivery, or a
straggler) is not evaluated again; `Outcome.late` counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

from pydantic import BaseModel, Field

from coldchain.contract import AlertEvent, AlertState, Event, EventKind, Reading, Severity
from coldchain.excursion import (
    Direction,
    Episode,
    Step,
    StepKind,
    Threshold,
    advance,
    grace_at,
    grace_until,
)
from coldchain.fleet import Asset, Fleet, Gateway, Sensor, Site
from coldchain.limits import Limits
from coldchain.registry import FleetHistory

#: A change smaller than this (K) is never a jump, however short the interval.
JUMP_MIN_K = 3.0
#: Battery alarms clear this far (V) above the low level.
BATTERY_HYSTERESIS_V = 0.1


class Alarm(BaseModel):
    """A raised health alarm (no level to pass, so no excursion)."""

    started_at: datetime
    raised_at: datetime
    value: float | None = None


class Incident(BaseModel):
    """An alarmed excursion of one sensor to one side, across all levels of that side."""

    key: str
    rule: str
    started_at: datetime
    peak_c: float
    degree_minutes: float = 0.0

    def event(
        self,
        state: AlertState,
        threshold: Threshold,
        site: str,
        asset: str,
        sensor: str,
        limits: Limits,
        at: datetime,
        value: float,
    ) -> AlertEvent:
        cleared = state is AlertState.CLEARED
        return AlertEvent(
            key=self.key,
            state=state,
            rule=threshold.rule,
            severity=threshold.severity,
            site=site,
            asset=asset,
            sensor=sensor,
            started_at=self.started_at,
            at=at,
            ended_at=at if cleared else None,
            value_c=value,
            peak_c=self.peak_c,
            limit_c=threshold.level_c,
            regulatory_limit_c=limits.regulatory_max_c,
            delay_s=threshold.delay_s,
            duration_s=(at - self.started_at).total_seconds() if cleared else None,
            degree_minutes=self.degree_minutes,
        )


class SensorState(BaseModel):
    last_ts: datetime | None = None
    last_c: float | None = None
    same_since: datetime | None = None
    episodes: dict[str, Episode] = Field(default_factory=dict)
    incidents: dict[str, Incident] = Field(default_factory=dict)
    above_segments: list[tuple[datetime, datetime]] = Field(default_factory=list)
    alarms: dict[str, Alarm] = Field(default_factory=dict)


class AssetState(BaseModel):
    door_open_since: datetime | None = None
    door_grace_until: datetime | None = None
    defrost_grace_until: datetime | None = None
    alarms: dict[str, Alarm] = Field(default_factory=dict)


class GatewayState(BaseModel):
    alarms: dict[str, Alarm] = Field(default_factory=dict)
    offline_since: datetime | None = None
    reported: dict[str, datetime] = Field(default_factory=dict)
    """Reading time of the last alarm of each gateway event rule."""


class EngineState(BaseModel):
    """Everything the engine remembers; keys are sensor, asset and gateway ids."""

    started_at: datetime
    sensors: dict[str, SensorState] = Field(default_factory=dict)
    assets: dict[str, AssetState] = Field(default_factory=dict)
    gateways: dict[str, GatewayState] = Field(default_factory=dict)


@dataclass(frozen=True)
class ExcursionRecord:
    """An excursion beyond a temperature level, alarmed or not; `ended_at` None while open."""

    rule: str
    severity: Severity
    site: str
    asset: str
    sensor: str
    started_at: datetime
    ended_at: datetime | None
    peak_c: float
    degree_minutes: float
    limit_c: float
    regulatory_limit_c: float
    alarmed: bool


@dataclass
class Outcome:
    """What a call changed: alert events to send, excursion records to store."""

    alerts: list[AlertEvent] = field(default_factory=list)
    excursions: list[ExcursionRecord] = field(default_factory=list)
    late: int = 0

    def extend(self, other: Outcome) -> None:
        if not (other.alerts or other.excursions or other.late):
            return
        self.alerts += other.alerts
        self.excursions += other.excursions
        self.late += other.late


#: A reading's time, as a key to sort by (a call into C, not into Python).
_READING_TIME = attrgetter("ts")

#: The fields of a sensor's state the steady path moves.
_STEADY_FIELDS = ("last_ts", "last_c", "same_since")

_TO_JSON = {
    "sensor": SensorState.__pydantic_serializer__.to_json,
    "asset": AssetState.__pydantic_serializer__.to_json,
    "gateway": GatewayState.__pydantic_serializer__.to_json,
}


class RuleEngine:
    """Judges every reading with the fleet valid at its time (`history`): a limit
    changed while readings were buffered does not judge the readings before it."""

    def __init__(
        self,
        fleet: Fleet | FleetHistory,
        state: EngineState,
        watches: Callable[[str, str], bool] = lambda site, gateway: True,
    ) -> None:
        self.history = fleet if isinstance(fleet, FleetHistory) else FleetHistory(fleet)
        self.state = state
        #: Whether `silence` looks after the gateway (site id, gateway id) and its sensors:
        #: a worker of the cluster watches only the gateways of the partitions it owns.
        self.watches = watches
        self.dirty: set[tuple[str, str]] = set()

    @property
    def fleet(self) -> Fleet:
        """The newest fleet: which gateways and sensors exist now."""
        return self.history.latest

    def changes(self) -> list[tuple[str, str, str]]:
        """(kind, id, JSON) of every sensor, asset and gateway state changed since last asked."""
        parts: dict[str, dict[str, SensorState] | dict[str, AssetState] | dict[str, GatewayState]]
        parts = {
            "sensor": self.state.sensors,
            "asset": self.state.assets,
            "gateway": self.state.gateways,
        }
        # The models' serializer itself: `model_dump_json`'s options cost as much again,
        # for every sensor of every batch.
        rows = [
            (kind, key, _TO_JSON[kind](parts[kind][key]).decode())
            for kind, key in sorted(self.dirty)
        ]
        self.dirty.clear()
        return rows

    @staticmethod
    def restore(started_at: datetime, rows: list[tuple[str, str, str]]) -> EngineState:
        """Rebuild the state from the rows `changes` gave (the latest row per key wins)."""
        state = EngineState(started_at=started_at)
        for kind, key, body in rows:
            if kind == "sensor":
                state.sensors[key] = SensorState.model_validate_json(body)
            elif kind == "asset":
                state.assets[key] = AssetState.model_validate_json(body)
            elif kind == "gateway":
                state.gateways[key] = GatewayState.model_validate_json(body)
        return state

    # --- input -----------------------------------------------------------------------

    def observe(self, readings: list[Reading], events: Sequence[Event] = ()) -> Outcome:
        """Evaluate readings and events of any sensors, delivered in any order.

        Everything is taken in reading-time order (an event before a reading with
        the same time), so a batch gives the same alarms however it was shuffled.
        Sensors the fleet does not know are skipped.
        """
        outcome = Outcome()
        items: list[tuple[datetime, int, str, Reading | Event]] = [
            (event.ts, 0, event.sensor, event) for event in events
        ]
        rest = self._steady(readings, events)
        items += [(reading.ts, 1, reading.sensor, reading) for reading in rest]
        for _, _, sensor_id, item in sorted(items, key=lambda x: x[:3]):
            if isinstance(item, Event) and item.kind in GATEWAY_EVENT_RULES:
                outcome.extend(self._gateway_event(item))
                continue
            located = self.history.at(item.ts).locate(sensor_id)
            if located is None:
                continue
            if isinstance(item, Event):
                outcome.extend(self._event(located[0], located[3], item))
            elif located[2].kind == "temperature":
                outcome.extend(self._reading(*located, item))
        return outcome

    def urgent(self, readings: Sequence[Reading]) -> bool:
        """Whether judging one of `readings` may raise or clear an alarm at once: a
        temperature outside the quiet band of its asset's limits (a level or the
        plausible range), a sensor with something open, or a jump. Ingest writes a
        batch holding one at once instead of waiting for the batch to fill, so the
        alarm is not held up.

        A reading in the quiet band of a settled sensor can still alarm later (stuck,
        a door left open): those alarms come long after the readings that start them.
        Cheap enough for every reading. It reads the state without the pipeline's
        lock: a stale answer only writes a batch sooner or later, the judgement after
        the write is the same.
        """
        sensors = self.state.sensors
        for reading in readings:
            band = self._quiet_band_of(self.history.at(reading.ts), reading.sensor)
            if band is None:
                continue  # not a temperature sensor of the fleet: never judged
            _asset, limits, low, high = band
            value = reading.temp_c
            if not low <= value <= high:
                return True
            state = sensors.get(reading.sensor)
            if state is not None and (
                not _settled(state, limits) or _jumps(limits, state, reading.ts, value)
            ):
                return True
        return False

    @staticmethod
    def _quiet_band_of(fleet: Fleet, sensor_id: str) -> tuple[str, Limits, float, float] | None:
        """The asset id, limits and quiet band (`_quiet_band`) of a temperature sensor of
        `fleet`; None for any other sensor."""
        located = fleet.locate(sensor_id)
        if located is None or located[2].kind != "temperature":
            return None
        asset = located[3]
        limits = asset.limits
        return asset.id, limits, *_quiet_band(limits)

    def _steady(self, readings: list[Reading], events: Sequence[Event]) -> list[Reading]:
        """Take the readings of every sensor that stays quiet through the whole batch;
        return the others, for the reading-by-reading path.

        A sensor stays quiet when `_quiet` admits each of its readings in turn and
        none of them is late, jumps, is stuck long enough to alarm, or finds its
        asset's door open: then the reading-by-reading path would only move the
        sensor's last value and time, which this does once per sensor and batch.
        Sensors of an asset with an event in the batch take the other path, so
        events and readings stay in time order.
        """
        by_sensor: dict[str, list[Reading]] = {}
        for reading in readings:
            run = by_sensor.get(reading.sensor)
            if run is None:
                by_sensor[reading.sensor] = [reading]
            else:
                run.append(reading)
        touched = set()
        for event in events:
            located = self.history.at(event.ts).locate(event.sensor)
            if located is not None:
                touched.add(located[3].id)
        rest: list[Reading] = []
        for sensor_id, run in by_sensor.items():
            if not self._steady_run(sensor_id, run, touched):
                rest += run
        return rest

    def _steady_run(self, sensor_id: str, run: list[Reading], touched: set[str]) -> bool:
        if len(run) > 1:
            run.sort(key=_READING_TIME)
        fleet = self.history.at(run[0].ts)
        if fleet is not self.history.at(run[-1].ts):
            return False  # a new version starts within the run: reading by reading
        band = self._quiet_band_of(fleet, sensor_id)
        state = self.state.sensors.get(sensor_id)
        if band is None or state is None:
            return False
        asset, limits, low, high = band
        last_ts, last_c, same_since = state.last_ts, state.last_c, state.same_since
        if last_ts is None or last_c is None or asset in touched:
            return False
        if not _settled(state, limits):
            return False
        asset_state = self.state.assets.get(asset)
        if asset_state is None or (
            asset_state.door_open_since is not None and limits.door_open_max_s is not None
        ):
            return False
        rate, stuck_s = limits.max_rate_k_per_min, limits.stuck_s
        for reading in run:
            ts, value = reading.ts, reading.temp_c
            if ts <= last_ts or not low <= value <= high:
                return False
            change = abs(value - last_c)
            if (
                rate is not None
                and change >= JUMP_MIN_K
                and change > rate * ((ts - last_ts).total_seconds() / 60.0)
            ):
                return False
            if value != last_c:
                same_since = ts
            elif stuck_s is not None and (ts - (same_since or ts)).total_seconds() >= stuck_s:
                return False
            last_ts, last_c = ts, value
        # As pydantic's __setattr__ does for a field, without its cost (three calls for
        # every sensor of every batch).
        state.__dict__.update(last_ts=last_ts, last_c=last_c, same_since=same_since)
        state.__pydantic_fields_set__.update(_STEADY_FIELDS)
        # The asset's state is only read here: saving it again would change nothing.
        self.dirty.add(("sensor", sensor_id))
        return True

    def _gateway_event(self, event: Event) -> Outcome:
        """A gateway reports trouble of its own (`{gateway}.clock`, `{gateway}.outbox`).

        Each report is an alarm of its own: nothing clears it but a person. Reports of
        the same kind within GATEWAY_EVENT_QUIET_S (reading time) of the last alarm are
        part of it: a gateway that reports the same trouble again and again, broken or
        hostile, cannot bury the other alarms.
        """
        located = self.history.at(event.ts).gateway(event.sensor.split(".", 1)[0])
        if located is None:
            return Outcome()
        site, gateway = located
        rule = GATEWAY_EVENT_RULES[event.kind]
        state = self._gateway(gateway.id)
        last = state.reported.get(rule)
        if last is not None and abs((event.ts - last).total_seconds()) < GATEWAY_EVENT_QUIET_S:
            return Outcome()
        state.reported[rule] = event.ts
        subject = _Subject(site.id, gateway=gateway.id)
        return Outcome(alerts=[subject.event(rule, AlertState.RAISED, event.ts, event.ts)])

    def gateway_status(self, site: str, gateway: str, online: bool, at: datetime) -> Outcome:
        """A gateway's retained status changed (`at`: when ingest saw it, UTC).

        Offline is an alarm once it has lasted the gateway's `offline_after_s`
        (raised here when that is 0, else by `silence`); online ends it.
        """
        state = self._gateway(gateway)
        subject = _Subject(site, gateway=gateway)
        if online:
            state.offline_since = None
            return self._clear(state.alarms, "offline", subject, at)
        state.offline_since = state.offline_since or at
        return self._offline_too_long(state, subject, at)

    def _offline_too_long(self, state: GatewayState, subject: _Subject, now: datetime) -> Outcome:
        located = self.fleet.gateway(subject.gateway or "")
        if state.offline_since is None or located is None:
            return Outcome()
        due = state.offline_since + timedelta(seconds=located[1].offline_after_s)
        if now < due:
            return Outcome()
        return self._raise(state.alarms, "offline", subject, state.offline_since, due)

    def battery(self, site: str, gateway: Gateway, ts: datetime, volts: float) -> Outcome:
        """A gateway's battery voltage (V) at reading time `ts`."""
        if gateway.battery_low_v is None:
            return Outcome()
        state = self._gateway(gateway.id)
        subject = _Subject(site, gateway=gateway.id, value=volts, limit=gateway.battery_low_v)
        if volts < gateway.battery_low_v:
            return self._raise(state.alarms, "battery_low", subject, ts, ts)
        if volts >= gateway.battery_low_v + BATTERY_HYSTERESIS_V:
            return self._clear(state.alarms, "battery_low", subject, ts)
        return Outcome()

    def silence(self, now: datetime) -> Outcome:
        """Raise `no_data` for every temperature sensor silent for no_data_factor intervals,
        and `offline` for every gateway offline for its `offline_after_s`, of the gateways
        this engine `watches`.

        `now` is the caller's clock (UTC). A sensor never heard from counts from
        `state.started_at` (ingest sets it when it begins to listen). The alarm carries
        the time the silence became too long.
        """
        outcome = Outcome()
        for site, gateway in self.fleet.gateways():
            if not self.watches(site.id, gateway.id):
                continue
            known = self.state.gateways.get(gateway.id)
            if known is not None and known.offline_since is not None:
                subject = _Subject(site.id, gateway=gateway.id)
                outcome.extend(self._offline_too_long(self._gateway(gateway.id), subject, now))
        for site, gateway, sensor, asset in self.fleet.sensors():
            if sensor.kind != "temperature" or not self.watches(site.id, gateway.id):
                continue
            state = self._sensor(sensor.id)
            last = state.last_ts or self.state.started_at
            due = last + timedelta(seconds=asset.limits.no_data_factor * sensor.interval_s)
            if now >= due and "no_data" not in state.alarms:
                subject = _Subject(site.id, asset=asset.id, sensor=sensor.id)
                outcome.extend(self._raise(state.alarms, "no_data", subject, last, due))
                self.dirty.add(("sensor", sensor.id))
        return outcome

    # --- readings --------------------------------------------------------------------

    def _reading(
        self, site: Site, gateway: Gateway, sensor: Sensor, asset: Asset, reading: Reading
    ) -> Outcome:
        state = self._sensor(sensor.id)
        if state.last_ts is not None and reading.ts <= state.last_ts:
            return Outcome(late=1)
        self.dirty.add(("sensor", sensor.id))
        limits = asset.limits
        ts, value = reading.ts, reading.temp_c
        subject = _Subject(site.id, asset=asset.id, sensor=sensor.id, value=value)
        if _quiet(state, limits, value):
            return self._quiet_reading(state, limits, subject, site.id, asset.id, ts, value)
        outcome = self._clear(state.alarms, "no_data", subject, ts)
        if not limits.plausible_min_c <= value <= limits.plausible_max_c:
            outcome.extend(self._raise(state.alarms, "implausible", subject, ts, ts))
            state.last_ts = ts
            return outcome
        outcome.extend(self._clear(state.alarms, "implausible", subject, ts))
        outcome.extend(self._jump(state, limits, subject, ts, value))
        outcome.extend(self._stuck(state, limits, subject, ts, value))
        asset_state = self._asset(asset.id)
        self.dirty.add(("asset", asset.id))
        grace = grace_at(
            limits,
            site.timezone,
            ts,
            asset_state.door_grace_until,
            asset_state.defrost_grace_until,
        )
        for threshold in _thresholds(limits):
            episode, step = advance(
                threshold,
                state.episodes.get(threshold.rule),
                ts,
                value,
                grace.suppresses(threshold),
                grace.cap_s,
            )
            if episode is None:
                state.episodes.pop(threshold.rule, None)
            else:
                state.episodes[threshold.rule] = episode
            if step is not None:
                outcome.excursions.append(_record(step, site.id, asset.id, sensor.id, limits))
                _note(state, step)
        if state.episodes:
            # A new fleet version may have no such level any more: its excursion ends.
            levels = _rules(limits)
            for rule in [rule for rule in state.episodes if rule not in levels]:
                del state.episodes[rule]
        if state.episodes or state.incidents:  # otherwise no incident can open or end
            for side in Direction:
                outcome.extend(
                    self._incident(state, side, site.id, asset.id, sensor.id, limits, ts, value)
                )
        outcome.extend(self._budget(state, limits, subject, ts, grace.door or grace.defrost))
        outcome.extend(self._door_too_long(asset_state, limits, site.id, asset.id, ts))
        state.last_ts, state.last_c = ts, value
        return outcome

    def _quiet_reading(
        self,
        state: SensorState,
        limits: Limits,
        subject: _Subject,
        site: str,
        asset: str,
        ts: datetime,
        value: float,
    ) -> Outcome:
        """A reading `_quiet` admits: what the full path would do with it, and no more.

        No alarm to clear, no level passed, no episode or incident open, no budget
        counting: only jump, stuck and a door left open can change.
        """
        outcome = self._jump(state, limits, subject, ts, value)
        outcome.extend(self._stuck(state, limits, subject, ts, value))
        asset_state = self._asset(asset)
        self.dirty.add(("asset", asset))
        outcome.extend(self._door_too_long(asset_state, limits, site, asset, ts))
        state.last_ts, state.last_c = ts, value
        return outcome

    def _incident(
        self,
        state: SensorState,
        side: Direction,
        site: str,
        asset: str,
        sensor: str,
        limits: Limits,
        ts: datetime,
        value: float,
    ) -> Outcome:
        """One alert per excursion of a sensor to one side, escalating as levels are passed.

        It opens when the first level's excursion raises, escalates (same key, more
        severe rule) when a more severe level raises, reports every other reading
        while it lasts (updated: value, peak, degree-minutes), and clears once the
        value is back inside every level of that side.
        """
        levels = [t for t in _thresholds(limits) if t.direction is side]
        episodes = [(t, state.episodes[t.rule]) for t in levels if t.rule in state.episodes]
        raised = [(t, e) for t, e in episodes if e.raised_at is not None]
        incident = state.incidents.get(side.value)
        if incident is not None and not levels:
            return self._level_removed(state, side, site, asset, sensor, limits, ts, value)
        if incident is None:
            if not raised:
                return Outcome()
            threshold, episode = raised[0]
            started = min(e.started_at for _, e in raised)
            incident = Incident(
                key=f"temperature_{side.value}/{sensor}/{started.isoformat()}",
                rule=threshold.rule,
                started_at=started,
                peak_c=episode.peak_c,
                degree_minutes=episode.degree_minutes,
            )
            state.incidents[side.value] = incident
            return Outcome(
                alerts=[
                    incident.event(
                        AlertState.RAISED, threshold, site, asset, sensor, limits, ts, value
                    )
                ]
            )
        for _, episode in episodes:
            incident.peak_c = threshold_worse(side, incident.peak_c, episode.peak_c)
        by_rule = {t.rule: t for t in levels}
        current = by_rule.get(incident.rule) or levels[0]
        if raised and LEVEL_RANK[raised[0][0].rule] > LEVEL_RANK[incident.rule]:
            current = raised[0][0]
            incident.rule = current.rule
            incident.degree_minutes = raised[0][1].degree_minutes
            return Outcome(
                alerts=[
                    incident.event(
                        AlertState.RAISED, current, site, asset, sensor, limits, ts, value
                    )
                ]
            )
        if episodes:
            live = state.episodes.get(incident.rule)
            if live is not None:
                incident.degree_minutes = live.degree_minutes
            return Outcome(
                alerts=[
                    incident.event(
                        AlertState.UPDATED, current, site, asset, sensor, limits, ts, value
                    )
                ]
            )
        del state.incidents[side.value]
        return Outcome(
            alerts=[
                incident.event(AlertState.CLEARED, current, site, asset, sensor, limits, ts, value)
            ]
        )

    def _level_removed(
        self,
        state: SensorState,
        side: Direction,
        site: str,
        asset: str,
        sensor: str,
        limits: Limits,
        ts: datetime,
        value: float,
    ) -> Outcome:
        """A new fleet version has no level on the side of an open incident: it ends,
        with no limit to name."""
        incident = state.incidents.pop(side.value)
        severity = Severity.CRITICAL if LEVEL_RANK[incident.rule] >= 2 else Severity.WARNING
        gone = Threshold(incident.rule, severity, side, value, 0.0, limits.hysteresis_k)
        event = incident.event(AlertState.CLEARED, gone, site, asset, sensor, limits, ts, value)
        return Outcome(alerts=[event.model_copy(update={"limit_c": None})])

    def _jump(
        self, state: SensorState, limits: Limits, subject: _Subject, ts: datetime, value: float
    ) -> Outcome:
        if limits.max_rate_k_per_min is None or state.last_ts is None or state.last_c is None:
            return Outcome()
        if _jumps(limits, state, ts, value):
            cleared = self._clear(state.alarms, "jump", subject, ts)
            cleared.extend(self._raise(state.alarms, "jump", subject, ts, ts))
            return cleared
        return self._clear(state.alarms, "jump", subject, ts)

    def _stuck(
        self, state: SensorState, limits: Limits, subject: _Subject, ts: datetime, value: float
    ) -> Outcome:
        if state.last_c is None or value != state.last_c:
            state.same_since = ts
            return self._clear(state.alarms, "stuck", subject, ts)
        since = state.same_since or ts
        if limits.stuck_s is not None and (ts - since).total_seconds() >= limits.stuck_s:
            return self._raise(state.alarms, "stuck", subject, since, ts)
        return Outcome()

    def _budget(
        self, state: SensorState, limits: Limits, subject: _Subject, ts: datetime, graced: bool
    ) -> Outcome:
        if limits.budget_s is None or limits.max_c is None:
            return Outcome()
        previous_above = state.last_c is not None and state.last_c > limits.max_c
        if not previous_above and not state.above_segments and "budget" not in state.alarms:
            return Outcome()  # nothing counted, nothing to raise or clear
        # Time above max_c under a critical alarm is not counted twice; under a warning it is.
        incident = state.incidents.get(Direction.ABOVE.value)
        alarmed = incident is not None and LEVEL_RANK[incident.rule] >= LEVEL_RANK["over_max"]
        if state.last_ts is not None and previous_above and not graced and not alarmed:
            segments = state.above_segments
            if segments and segments[-1][1] == state.last_ts:
                segments[-1] = (segments[-1][0], ts)
            else:
                segments.append((state.last_ts, ts))
        window_start = ts - timedelta(seconds=limits.budget_window_s)
        state.above_segments = [seg for seg in state.above_segments if seg[1] > window_start]
        used = sum(
            (end - max(start, window_start)).total_seconds() for start, end in state.above_segments
        )
        if used > limits.budget_s:
            first = max(state.above_segments[0][0], window_start)
            budgeted = subject.with_limit(limits.max_c)
            return self._raise(state.alarms, "budget", budgeted, first, ts)
        if "budget" not in state.alarms:
            return Outcome()
        return self._clear(state.alarms, "budget", subject.with_limit(limits.max_c), ts)

    # --- events ----------------------------------------------------------------------

    def _event(self, site: Site, asset: Asset, event: Event) -> Outcome:
        state = self._asset(asset.id)
        self.dirty.add(("asset", asset.id))
        limits = asset.limits
        ts = event.ts
        if event.kind is EventKind.DOOR_OPEN:
            state.door_open_since = state.door_open_since or ts
            state.door_grace_until = grace_until(state.door_grace_until, ts, limits.door_grace_s)
        elif event.kind is EventKind.DOOR_CLOSED:
            state.door_open_since = None
            return self._clear(state.alarms, "door_open", _door(site.id, asset.id, limits), ts)
        elif event.kind is EventKind.DEFROST_START:
            state.defrost_grace_until = grace_until(
                state.defrost_grace_until, ts, limits.defrost_grace_s
            )
        return self._door_too_long(state, limits, site.id, asset.id, ts)

    def _door_too_long(
        self, state: AssetState, limits: Limits, site: str, asset: str, ts: datetime
    ) -> Outcome:
        since = state.door_open_since
        if since is None or limits.door_open_max_s is None:
            return Outcome()
        if (ts - since).total_seconds() < limits.door_open_max_s:
            return Outcome()
        return self._raise(state.alarms, "door_open", _door(site, asset, limits), since, ts)

    # --- alarms ----------------------------------------------------------------------

    def _raise(
        self,
        alarms: dict[str, Alarm],
        rule: str,
        subject: _Subject,
        started_at: datetime,
        at: datetime,
    ) -> Outcome:
        if rule in alarms:
            return Outcome()
        alarms[rule] = Alarm(started_at=started_at, raised_at=at, value=subject.value)
        return Outcome(alerts=[subject.event(rule, AlertState.RAISED, started_at, at)])

    def _clear(
        self, alarms: dict[str, Alarm], rule: str, subject: _Subject, at: datetime
    ) -> Outcome:
        alarm = alarms.pop(rule, None)
        if alarm is None:
            return Outcome()
        # Buffered readings can be older than the alarm they end (no data during a
        # dead zone): the clearing is never dated before the raising.
        cleared_at = max(at, alarm.raised_at)
        return Outcome(
            alerts=[subject.event(rule, AlertState.CLEARED, alarm.started_at, cleared_at)]
        )

    # get before setdefault: building an empty state model for every reading is costly.
    def _sensor(self, sensor: str) -> SensorState:
        state = self.state.sensors.get(sensor)
        return state if state is not None else self.state.sensors.setdefault(sensor, SensorState())

    def _asset(self, asset: str) -> AssetState:
        state = self.state.assets.get(asset)
        return state if state is not None else self.state.assets.setdefault(asset, AssetState())

    def _gateway(self, gateway: str) -> GatewayState:
        self.dirty.add(("gateway", gateway))
        state = self.state.gateways.get(gateway)
        if state is None:
            state = self.state.gateways.setdefault(gateway, GatewayState())
        return state


def thresholds(limits: Limits) -> list[Threshold]:
    """The level rules an asset's limits define, most severe first."""
    return list(_thresholds(limits))


#: Thresholds by the identity of the (frozen) Limits they were made from, with that object.
_THRESHOLDS: dict[int, tuple[Limits, tuple[Threshold, ...], tuple[float, float]]] = {}


def _cached(limits: Limits) -> tuple[Limits, tuple[Threshold, ...], tuple[float, float]]:
    # The engine asks for every reading; an asset's Limits is one object for the
    # fleet's lifetime, and looking it up by identity avoids hashing the model.
    cached = _THRESHOLDS.get(id(limits))
    if cached is None or cached[0] is not limits:
        if len(_THRESHOLDS) >= 4096:
            _THRESHOLDS.clear()
        levels = _make_thresholds(limits)
        above = [t.level_c for t in levels if t.direction is Direction.ABOVE]
        below = [t.level_c for t in levels if t.direction is Direction.BELOW]
        band = (
            max([limits.plausible_min_c, *below]),
            min([limits.plausible_max_c, *above]),
        )
        cached = (limits, levels, band)
        _THRESHOLDS[id(limits)] = cached
    return cached


def _thresholds(limits: Limits) -> tuple[Threshold, ...]:
    return _cached(limits)[1]


def _rules(limits: Limits) -> set[str]:
    return {threshold.rule for threshold in _cached(limits)[1]}


def _quiet_band(limits: Limits) -> tuple[float, float]:
    """°C inside every level and the plausible range: no level rule can start there."""
    return _cached(limits)[2]


def _make_thresholds(limits: Limits) -> tuple[Threshold, ...]:
    spec = [
        ("over_absolute", Severity.CRITICAL, Direction.ABOVE, limits.absolute_max_c, 0.0),
        ("over_max", Severity.CRITICAL, Direction.ABOVE, limits.max_c, limits.delay_s),
        ("under_min", Severity.CRITICAL, Direction.BELOW, limits.min_c, limits.delay_s),
        ("over_warning", Severity.WARNING, Direction.ABOVE, limits.warn_max_c, limits.delay_s),
        ("under_warning", Severity.WARNING, Direction.BELOW, limits.warn_min_c, limits.delay_s),
    ]
    return tuple(
        Threshold(rule, severity, direction, level, delay, limits.hysteresis_k)
        for rule, severity, direction, level, delay in spec
        if level is not None
    )


HEALTH_SEVERITY = Severity.WARNING

#: Gateway events that are alarms: the gateway's clock jumped, its outbox thinned readings.
GATEWAY_EVENT_RULES = {
    EventKind.CLOCK_JUMP: "clock_jump",
    EventKind.OUTBOX_THINNED: "outbox_thinned",
}
#: Reports of one gateway event rule closer than this (s, reading time) are one alarm.
GATEWAY_EVENT_QUIET_S = 600.0


def latest(events: Sequence[AlertEvent]) -> list[AlertEvent]:
    """`events` without the updates that a later event of the same key supersedes: what
    is worth sending of one batch (its raises, clearings and each key's last reading)."""
    last = {event.key: index for index, event in enumerate(events)}
    return [
        event
        for index, event in enumerate(events)
        if event.state is not AlertState.UPDATED or last[event.key] == index
    ]


@dataclass(slots=True)  # not frozen: one is made per reading, and frozen inits are slow
class _Subject:
    """Who an alarm is about, and the value and limit it reports."""

    site: str
    asset: str | None = None
    sensor: str | None = None
    gateway: str | None = None
    value: float | None = None
    limit: float | None = None
    delay_s: float = 0.0

    def with_limit(self, limit: float) -> _Subject:
        return _Subject(self.site, self.asset, self.sensor, self.gateway, self.value, limit)

    def event(self, rule: str, state: AlertState, started_at: datetime, at: datetime) -> AlertEvent:
        who = self.sensor or self.asset or self.gateway or self.site
        cleared = state is AlertState.CLEARED
        return AlertEvent(
            key=f"{rule}/{who}/{started_at.isoformat()}",
            state=state,
            rule=rule,
            severity=Severity.CRITICAL if rule == "budget" else HEALTH_SEVERITY,
            site=self.site,
            asset=self.asset,
            sensor=self.sensor,
            gateway=self.gateway,
            started_at=started_at,
            at=at,
            ended_at=at if cleared else None,
            duration_s=(at - started_at).total_seconds() if cleared else None,
            value_c=self.value if self.gateway is None else None,
            limit_c=self.limit if self.gateway is None else None,
            delay_s=self.delay_s,
        )


def _door(site: str, asset: str, limits: Limits) -> _Subject:
    """The subject of a door alarm: the asset, with the allowed opening time as its delay."""
    return _Subject(site, asset=asset, delay_s=limits.door_open_max_s or 0.0)


def _record(step: Step, site: str, asset: str, sensor: str, limits: Limits) -> ExcursionRecord:
    episode, threshold = step.episode, step.threshold
    return ExcursionRecord(
        rule=threshold.rule,
        severity=threshold.severity,
        site=site,
        asset=asset,
        sensor=sensor,
        started_at=episode.started_at,
        ended_at=None if step.kind is StepKind.RAISED else step.at,
        peak_c=episode.peak_c,
        degree_minutes=episode.degree_minutes,
        limit_c=threshold.level_c,
        regulatory_limit_c=limits.regulatory_max_c,
        alarmed=episode.raised_at is not None,
    )


def _note(state: SensorState, step: Step) -> None:
    """Keep the degree-minutes of the level an incident is at, as its excursion ends."""
    incident = state.incidents.get(step.threshold.direction.value)
    if incident is not None and incident.rule == step.threshold.rule:
        incident.degree_minutes = step.episode.degree_minutes


def threshold_worse(side: Direction, a_c: float, b_c: float) -> float:
    return max(a_c, b_c) if side is Direction.ABOVE else min(a_c, b_c)


#: How high each temperature level is on its side; an incident escalates to a higher
#: rank and keeps its key. Other rules have no levels.
LEVEL_RANK = {
    "over_warning": 1,
    "over_max": 2,
    "over_absolute": 3,
    "under_warning": 1,
    "under_min": 2,
}


def _quiet(state: SensorState, limits: Limits, value: float) -> bool:
    """Nothing open for the sensor, the last value not above max_c and this one inside
    every level: most readings, and none of them can start, end or count anything."""
    if not _settled(state, limits):
        return False
    low, high = _quiet_band(limits)
    return low <= value <= high


def _settled(state: SensorState, limits: Limits) -> bool:
    """Nothing open for the sensor and its last value not above max_c (no budget counting)."""
    if state.alarms or state.episodes or state.incidents or state.above_segments:
        return False
    return limits.max_c is None or state.last_c is None or state.last_c <= limits.max_c


def _jumps(limits: Limits, state: SensorState, ts: datetime, value: float) -> bool:
    """Whether `value` (°C) at `ts` changed from the sensor's last value faster than the
    limits allow, by at least JUMP_MIN_K; False without a rate or a last value."""
    rate, last_ts, last_c = limits.max_rate_k_per_min, state.last_ts, state.last_c
    if rate is None or last_ts is None or last_c is None:
        return False
    change = abs(value - last_c)
    return change >= JUMP_MIN_K and change > rate * ((ts - last_ts).total_seconds() / 60.0)
