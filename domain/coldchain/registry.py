"""The fleet registry's rules: versions in time, what a change is, which change waits.

Pure. The alerts service keeps the versions (docs/fleet.md); ingest judges each
reading with the version valid at the reading's time. A fleet is handled as the
fleet file's data (`coldchain.fleet.parse_yaml`), so that an export gives back
what was imported; `Fleet.from_data` validates it.

A change is named by a path through the fleet, one per value:

    sites/{site}/name | address | timezone
    assets/{asset}/site | name/de | name/en | category | limits/{field}
    gateways/{gateway}/site | mobile | plate | battery_low_v | offline_after_s
    sensors/{sensor}/gateway | asset | kind | interval_s

Asset, gateway and sensor ids are unique across the fleet, so a path needs no site.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coldchain.errors import FleetConfigError
from coldchain.fleet import Fleet
from coldchain.limits import Limits

#: The settings of an asset whose loosening waits for a second person's approval,
#: and which way is looser: +1 a higher value, -1 a lower one (None, no limit, is
#: the loosest of all).
CRITICAL = {
    "max_c": +1,
    "absolute_max_c": +1,
    "min_c": -1,
    "delay_s": +1,
    "budget_s": +1,
    "door_grace_s": +1,
    "defrost_grace_s": +1,
    "hysteresis_k": -1,
}

_SITE_FIELDS = ("name", "address", "timezone")
_GATEWAY_FIELDS = ("mobile", "plate", "battery_low_v", "offline_after_s")
_SENSOR_FIELDS = ("kind", "interval_s")


class ChangeRefused(FleetConfigError):
    """A change that cannot be made; the text says why and what to do."""


@dataclass(frozen=True)
class Change:
    """One value changed between two fleets; None stands for "not there"."""

    path: str
    old: Any
    new: Any


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of a fleet's data by its path (see the module's docstring)."""
    flat: dict[str, Any] = {}
    for site in data.get("sites", []):
        sid = site["id"]
        for name in _SITE_FIELDS:
            if name in site:
                flat[f"sites/{sid}/{name}"] = site[name]
        for asset in site.get("assets", []):
            prefix = f"assets/{asset['id']}"
            flat[f"{prefix}/site"] = sid
            for lang, text in asset.get("name", {}).items():
                flat[f"{prefix}/name/{lang}"] = text
            flat[f"{prefix}/category"] = asset["category"]
            for field, value in (asset.get("limits") or {}).items():
                flat[f"{prefix}/limits/{field}"] = value
        for gateway in site.get("gateways", []):
            prefix = f"gateways/{gateway['id']}"
            flat[f"{prefix}/site"] = sid
            for name in _GATEWAY_FIELDS:
                if name in gateway:
                    flat[f"{prefix}/{name}"] = gateway[name]
            for sensor in gateway.get("sensors", []):
                sprefix = f"sensors/{sensor['id']}"
                flat[f"{sprefix}/gateway"] = gateway["id"]
                flat[f"{sprefix}/asset"] = sensor["asset"]
                for name in _SENSOR_FIELDS:
                    if name in sensor:
                        flat[f"{sprefix}/{name}"] = sensor[name]
    return flat


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every value that differs between two fleets' data, by path."""
    before, after = flatten(old), flatten(new)
    return [
        Change(path, before.get(path), after.get(path))
        for path in sorted(before.keys() | after.keys())
        if before.get(path) != after.get(path) or (path in before) != (path in after)
    ]


def site_of(flat: Mapping[str, Any], path: str) -> str | None:
    """The site a value of a flattened fleet (`flatten`) belongs to; None if the
    fleet does not hold the path's site, asset, gateway or sensor."""
    kind, _, rest = path.partition("/")
    key = rest.split("/", 1)[0]
    if kind == "sites":
        return key
    if kind == "sensors":
        gateway = flat.get(f"sensors/{key}/gateway")
        return None if gateway is None else flat.get(f"gateways/{gateway}/site")
    found = flat.get(f"{kind}/{key}/site")
    return None if found is None else str(found)


def sites_touched(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    """Every site a change from `old` to `new` touches: the site of each changed value,
    before and after the change (a change that moved something touches both sites)."""
    before, after = flatten(old), flatten(new)
    touched = set()
    for change in changes(old, new):
        touched |= {site_of(before, change.path), site_of(after, change.path)}
    return {site for site in touched if site is not None}


def only_sites(data: Mapping[str, Any], sites: Collection[str]) -> dict[str, Any]:
    """A fleet's data with only the sites in `sites`: what a user of those sites sees."""
    return {**data, "sites": [site for site in data.get("sites", []) if site["id"] in sites]}


def needs_reason(found: Iterable[Change]) -> bool:
    """Whether a change touches a limit or a category: HACCP asks why."""
    return any("/limits/" in change.path or change.path.endswith("/category") for change in found)


def set_value(data: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of a fleet's data with one value set (None removes an asset's limit
    override, or an optional field); raises ChangeRefused for a path it does not know."""
    result = copy.deepcopy(dict(data))
    parts = path.split("/")
    kind, key, rest = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
    target = _find(result, kind, key)
    if target is None:
        raise ChangeRefused(f"{path}: there is no {kind.rstrip('s')} {key!r} in the fleet")
    if kind == "assets" and rest[:1] == ["limits"] and len(rest) == 2:
        if rest[1] not in Limits.model_fields:
            known = ", ".join(sorted(Limits.model_fields))
            raise ChangeRefused(f"{path}: {rest[1]!r} is not a limit; limits are: {known}")
        limits = dict(target.get("limits") or {})
        _put(limits, rest[1], value)
        if limits:
            target["limits"] = limits
        else:
            target.pop("limits", None)
        return result
    if kind == "assets" and rest[:1] == ["name"] and len(rest) == 2 and rest[1] in ("de", "en"):
        target.setdefault("name", {})[rest[1]] = value
        return result
    editable = {
        "sites": _SITE_FIELDS,
        "assets": ("category",),
        "gateways": _GATEWAY_FIELDS,
        "sensors": (*_SENSOR_FIELDS, "asset"),
    }[kind]
    if len(rest) != 1 or rest[0] not in editable:
        extra = ("limits/FIELD", "name/de", "name/en") if kind == "assets" else ()
        raise ChangeRefused(
            f"{path}: not a value that can be set; under {kind}/{key}/ these can: "
            + ", ".join([*editable, *extra])
        )
    _put(target, rest[0], value)
    return result


def _put(target: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        target.pop(name, None)
    else:
        target[name] = value


def _find(data: dict[str, Any], kind: str, key: str) -> dict[str, Any] | None:
    for site in data.get("sites", []):
        if kind == "sites" and site.get("id") == key:
            return site  # type: ignore[no-any-return]
        for asset in site.get("assets", []) if kind == "assets" else ():
            if asset.get("id") == key:
                return asset  # type: ignore[no-any-return]
        for gateway in site.get("gateways", []):
            if kind == "gateways" and gateway.get("id") == key:
                return gateway  # type: ignore[no-any-return]
            for sensor in gateway.get("sensors", []) if kind == "sensors" else ():
                if sensor.get("id") == key:
                    return sensor  # type: ignore[no-any-return]
    return None


def loosened(old: Fleet, new: Fleet) -> list[str]:
    """What the change from `old` to `new` loosens, one line each; empty if nothing.

    Loosening is what could let unsafe food pass unnoticed: a critical limit of an
    asset moved the looser way (a higher maximum, a lower minimum, a longer delay
    or grace, a larger budget, a smaller hysteresis, a limit removed), an asset no
    longer watched, or a temperature sensor no longer judged for its asset. Such a
    change waits for a second person's approval; anything else takes effect at once.
    """
    found: list[str] = []
    new_assets = {asset.id: asset for site in new.sites for asset in site.assets}
    for site in old.sites:
        for asset in site.assets:
            after = new_assets.get(asset.id)
            if after is None:
                found.append(f"asset {asset.id} removed: nothing watches it any more")
                continue
            found += [
                f"{asset.id}: {name} {_shown(before_value)} → {_shown(after_value)}"
                for name, before_value, after_value in _critical(asset.limits, after.limits)
            ]
    new_sensors = {sensor.id: asset.id for _s, _g, sensor, asset in new.sensors()}
    for _site, _gateway, sensor, asset in old.sensors():
        if sensor.kind == "temperature" and new_sensors.get(sensor.id) != asset.id:
            found.append(f"sensor {sensor.id} no longer judged for asset {asset.id}")
    return found


def _critical(before: Limits, after: Limits) -> list[tuple[str, Any, Any]]:
    looser = []
    for name, direction in CRITICAL.items():
        old, new = getattr(before, name), getattr(after, name)
        if old == new:
            continue
        if new is None or (old is not None and (new - old) * direction > 0):
            looser.append((name, old, new))
    return looser


def _shown(value: Any) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Version:
    """A fleet in force from `valid_from` (UTC) on; number 0 is the fleet file."""

    number: int
    valid_from: datetime | None
    fleet: Fleet


class FleetHistory:
    """Every fleet version a service knows, to find the one valid at a reading's time.

    The base (the fleet file) holds before the first version. Versions come in any
    order and more than once; a number seen before is ignored. Threads may add while
    others ask: a version is added by replacing the whole timeline at once, and one
    adding at a time (a cluster worker's pipelines share one history), so no version
    added meanwhile is lost.
    """

    def __init__(self, base: Fleet, versions: Iterable[Version] = ()) -> None:
        self._base = Version(0, None, base)
        self._timeline: tuple[tuple[Version, ...], tuple[datetime, ...]] = ((), ())
        self._adding = threading.Lock()
        for version in versions:
            self.add(version)

    def add(self, version: Version) -> bool:
        """Take a version; False if its number is known already."""
        with self._adding:
            known = self._timeline[0]
            if version.valid_from is None or any(v.number == version.number for v in known):
                return False
            ordered = tuple(sorted((*known, version), key=lambda v: (v.valid_from, v.number)))
            self._timeline = (ordered, tuple(v.valid_from for v in ordered if v.valid_from))
            return True

    @property
    def latest(self) -> Fleet:
        """The newest fleet: what gateways and sensors exist now."""
        versions = self._timeline[0]
        return versions[-1].fleet if versions else self._base.fleet

    @property
    def number(self) -> int:
        """The newest version's number; 0 while only the fleet file is known."""
        return max((v.number for v in self._timeline[0]), default=0)

    def versions(self) -> list[Version]:
        return list(self._timeline[0])

    def at(self, ts: datetime) -> Fleet:
        """The fleet valid at reading time `ts` (UTC)."""
        return self.version_at(ts).fleet

    def version_at(self, ts: datetime) -> Version:
        """The version valid at reading time `ts` (UTC); number 0, the fleet file, before
        the first."""
        versions, starts = self._timeline
        index = bisect.bisect_right(starts, ts)
        return versions[index - 1] if index else self._base

    def periods(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, Version]]:
        """The versions in force over UTC [start, end), each with the part of it where it
        is: consecutive, covering the whole span."""
        versions, starts = self._timeline
        found = []
        first = self.version_at(start)
        begin = start
        for version, valid_from in zip(versions, starts, strict=True):
            if start < valid_from < end:
                if valid_from > begin:  # two versions at one instant: the later holds
                    found.append((begin, valid_from, first))
                first, begin = version, valid_from
        found.append((begin, end, first))
        return found
