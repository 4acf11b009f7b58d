"""One folder per site: the dashboards of one site, with the site written into every query.

A site's dashboards are the four dashboards built from the site's assets alone, then
scoped here: the site becomes a literal in every query (`"site" = 'kantine-nord'`) and
the `$site` variable goes. Not a hidden or constant variable: Grafana takes any
variable's value from the address (`?var-site=dortmund-hub`), so a variable would let a
viewer of the canteen open the hub's data by editing the URL. Each site's dashboards
live in a folder of their own per language; Grafana teams decide who sees which folder
(`coldchain_dashboards.publish`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from coldchain import measurements
from coldchain.fleet import Fleet, Site
from coldchain_dashboards.errors import DashboardError
from coldchain_dashboards.influxql import SITE_FILTER
from coldchain_dashboards.language import LANGUAGES, Language, folder, pick

#: The audit log's chain has no site: its entries name every site's alerts, the logins and
#: the users, so a site's dashboards leave out the panels that read it.
HUB_ONLY = (measurements.AUDIT_CHAIN,)
#: No site either, but only a verdict that shows no entry's content (the alerts API gives
#: a site's users the same verdict, `audit/verify`): a site's dashboards keep it.
SITELESS = (measurements.AUDIT_VERIFY,)
#: Grafana's longest uid of a dashboard or a folder.
MAX_UID = 40
#: Where compose.yaml mounts `dashboards/` in Grafana's container.
MOUNTED_AT = "/var/lib/grafana/dashboards"


@dataclass(frozen=True)
class Folder:
    """A Grafana folder of dashboards: the hub's (every site) or one site's, in one language."""

    uid: str
    title: str
    path: str
    """The folder of its JSON files under `dashboards/`: `de`, `sites/kantine-nord/de`."""
    language: Language
    site: str | None
    """The site whose dashboards it holds; None: every site's, for the hub."""


def folders(fleet: Fleet, *, per_site: bool) -> list[Folder]:
    """The hub's two folders, and with `per_site` two for every site of the fleet."""
    found = [Folder(f"coldchain-{lang}", folder(lang), lang, lang, None) for lang in LANGUAGES]
    if per_site:
        found += [_site_folder(site, lang) for site in fleet.sites for lang in LANGUAGES]
    return found


def folder_of(name: str, known: list[Folder]) -> Folder:
    """The folder of a dashboard by its path in `build`'s answer: `sites/x/de/audit.json`."""
    path = name.rpartition("/")[0]
    for candidate in known:
        if candidate.path == path:
            return candidate
    raise DashboardError(f"{name}: in no folder of the fleet; build and publish one fleet file")


def _site_folder(site: Site, lang: Language) -> Folder:
    title = f"coldchain: {site.name} ({pick(lang, de='Deutsch', en='English')})"
    uid = _short_uid(f"coldchain-{site.id}-{lang}", f"coldchain-{_digest(site.id)}-{lang}")
    return Folder(uid, title, f"sites/{site.id}/{lang}", lang, site.id)


def scoped(board: dict[str, Any], site: Site) -> dict[str, Any]:
    """`board` (built from the site's assets) for `site` alone: the site as a literal in
    every query, no `$site` variable, the hub-only panels left out, the site in the uid."""
    literal = f"\"site\" = '{site.id}'"
    mine = copy.deepcopy(board)
    mine["panels"] = [p for p in mine["panels"] if not _reads(p, HUB_ONLY)]
    mine["templating"]["list"] = [v for v in mine["templating"]["list"] if v["name"] != "site"]
    _replace_queries(mine, lambda query: query.replace(SITE_FILTER, literal))
    for query in queries(mine):
        if literal not in query and not _only_from(query, SITELESS):
            raise DashboardError(
                f"{board['uid']}: a query without the site, which a site's dashboard "
                f"would show for every site: {query}; filter it with influxql.SITE_FILTER"
            )
    if "$site" in json.dumps(mine):
        raise DashboardError(f"{board['uid']}: $site is left after scoping it to {site.id}")
    prefix, _, lang = board["uid"].rpartition("-")
    mine["uid"] = _short_uid(f"{prefix}-{site.id}-{lang}", f"{prefix}-{_digest(site.id)}-{lang}")
    mine["title"] = f"{board['title']} – {site.name}"
    mine["tags"] = [*board["tags"], site.id]
    return mine


def queries(board: dict[str, Any]) -> Iterator[str]:
    """Every InfluxQL statement of a dashboard: panel targets, annotations, variables."""
    for node in _query_holders(board):
        yield node["query"]


def provisioning(known: list[Folder]) -> str:
    """Grafana's dashboard providers, one per folder, as compose.yaml mounts `dashboards/`."""
    providers = [
        {
            "name": each.uid,
            "orgId": 1,
            "folder": each.title,
            "folderUid": each.uid,
            "type": "file",
            "disableDeletion": True,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 30,
            "options": {"path": f"{MOUNTED_AT}/{each.path}", "foldersFromFilesStructure": False},
        }
        for each in known
    ]
    text = yaml.safe_dump(
        {"apiVersion": 1, "providers": providers}, sort_keys=False, allow_unicode=True
    )
    return _PROVISIONING_HEADER + text


_PROVISIONING_HEADER = """\
# Generated by `make dashboards` (coldchain_dashboards.sites.provisioning): edit the code
# or the fleet, not this file. One Grafana dashboard provider per folder: the hub's German
# and English sets (every site) and each site's own. compose.yaml mounts ./dashboards at
# /var/lib/grafana/dashboards. Who sees which folder: `coldchain-dashboards publish`
# (dashboards/README.md, "One folder per site").
"""


def _short_uid(uid: str, fallback: str) -> str:
    return uid if len(uid) <= MAX_UID else fallback


def _digest(site: str) -> str:
    """A short stand-in for a site id too long for Grafana's uids."""
    return hashlib.sha256(site.encode()).hexdigest()[:10]


def _query_holders(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("query"), str):
            yield node
        for value in node.values():
            yield from _query_holders(value)
    elif isinstance(node, list):
        for item in node:
            yield from _query_holders(item)


def _replace_queries(board: dict[str, Any], change: Callable[[str], str]) -> None:
    for node in _query_holders(board):
        node["query"] = change(node["query"])


def _reads(panel: dict[str, Any], names: tuple[str, ...]) -> bool:
    return any(set(_sources(query)) & set(names) for query in queries(panel))


def _only_from(query: str, names: tuple[str, ...]) -> bool:
    sources = _sources(query)
    return bool(sources) and "FROM (" not in query and set(sources) <= set(names)


def _sources(query: str) -> list[str]:
    return re.findall(r'FROM "([^"]+)"', query)
