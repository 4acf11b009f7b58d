"""Push the dashboards into a running Grafana, and decide who sees which folder (grafana-client).

Folders: the hub's ("coldchain (Deutsch)", "coldchain (English)") and each site's
("coldchain: Kantine Nord (Deutsch)", ...), with the uids the provisioning files give
them, so the same folders serve a Grafana that loads `dashboards/` from files (compose)
and one that gets them through the API.

Who sees them: one Grafana team per site (`coldchain-site-kantine-nord`) with View on
the site's two folders and nothing else, and one team for the people of every site
(`coldchain-every-site`) with View on the hub's folders. A folder's permissions are set
to exactly that, which takes away Grafana's defaults (every Viewer and Editor of the
organisation sees a new folder). People go into the teams of their sites as the people
file says (`coldchain.peoplefile`); a member the file does not put into a team leaves it.

Every step first reads what Grafana has and writes only what differs, so a second run
changes nothing. Grafana refuses API updates of dashboards it provisioned from files;
those are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException
from niquests.exceptions import RequestException

from coldchain.peoplefile import PeopleFile, Person
from coldchain_dashboards.errors import PublishFailed
from coldchain_dashboards.influxql import DATASOURCE_UID
from coldchain_dashboards.sites import Folder, folder_of

#: Grafana's permission level "View" (1; Edit is 2, Admin 4).
VIEW = 1
#: The team of the people who work at every site: the hub's folders.
EVERY_SITE_TEAM = "coldchain-every-site"


def team_name(site: str | None) -> str:
    """The Grafana team of a site's people; None: of the people of every site."""
    return EVERY_SITE_TEAM if site is None else f"coldchain-site-{site}"


@dataclass
class Published:
    """What a publish did, for the operator to read."""

    dashboards: list[str] = field(default_factory=list)
    """URLs of the dashboards written."""
    unchanged: int = 0
    """Dashboards already as built, or provisioned from files."""
    changes: list[str] = field(default_factory=list)
    """Folders, teams, permissions and memberships created or changed."""
    warnings: list[str] = field(default_factory=list)
    """People who could not be put into their teams, and why."""


def publish(
    boards: dict[str, dict[str, Any]],
    folders: list[Folder],
    url: str,
    token: str,
    people: PeopleFile,
    *,
    dashboards: bool = True,
) -> Published:
    """Create the folders, write the dashboards (by path, as `build` gives them; not with
    `dashboards` False, for a Grafana that loads them from files), and give each folder's
    team View on it with the people of `people` as its members."""
    api = GrafanaApi.from_url(url, credential=token)
    done = Published()
    try:
        _require_datasource(api)
        for each in folders:
            _ensure_folder(api, each, done)
        if dashboards:
            for name, board in boards.items():
                _put_dashboard(api, board, folder_of(name, folders), done)
        _grant(api, folders, people, done)
    except GrafanaException as exc:
        raise PublishFailed(f"Grafana at {url} refused: {exc}") from exc
    except RequestException as exc:
        raise PublishFailed(f"cannot reach Grafana at {url}: {exc}; check --url") from exc
    return done


def _require_datasource(api: GrafanaApi) -> None:
    try:
        api.datasource.get_datasource_by_uid(DATASOURCE_UID)  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if exc.status_code in (401, 403):
            raise PublishFailed(
                f"Grafana refused the token ({exc.status_code}): give a service-account "
                "token with the Admin role (it creates teams and sets folder permissions)"
            ) from exc
        raise PublishFailed(
            f"Grafana has no data source with uid {DATASOURCE_UID!r}: add the InfluxDB data "
            "source as in deploy/grafana/provisioning/datasources/influxdb.yaml"
        ) from exc


def _ensure_folder(api: GrafanaApi, each: Folder, done: Published) -> None:
    try:
        api.folder.get_folder(each.uid)  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(each.title, uid=each.uid)  # type: ignore[no-untyped-call]
        done.changes.append(f"folder {each.title!r} created")


def _put_dashboard(api: GrafanaApi, board: dict[str, Any], each: Folder, done: Published) -> None:
    if _as_published(api, board, each):
        done.unchanged += 1
        return
    payload = {
        "dashboard": {**board, "id": None},
        "folderUid": each.uid,
        "overwrite": True,
        "message": "coldchain-dashboards publish",
    }
    answer = api.dashboard.update_dashboard(payload)  # type: ignore[no-untyped-call]
    done.dashboards.append(str(answer.get("url", board["uid"])))


def _as_published(api: GrafanaApi, board: dict[str, Any], each: Folder) -> bool:
    """Whether Grafana has the dashboard as built in its folder, or from its files."""
    try:
        stored = api.dashboard.get_dashboard(board["uid"])  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        return False
    meta = stored.get("meta", {})
    if meta.get("provisioned"):
        return True
    kept = {k: v for k, v in stored.get("dashboard", {}).items() if k not in ("id", "version")}
    return bool(kept == board and meta.get("folderUid") == each.uid)


def _grant(api: GrafanaApi, folders: list[Folder], people: PeopleFile, done: Published) -> None:
    sites = {each.site for each in folders}
    users = _org_users(api)
    wanted: dict[str | None, set[int]] = {site: set() for site in sites}
    for person in people.people:
        user_id = _user_id(person, users)
        if user_id is None:
            done.warnings.append(
                f"{person.login}: no such user in Grafana (by login or e-mail); they get "
                "their teams at the next publish after they first log in"
            )
            continue
        for site in (None,) if person.sites is None else person.sites:
            if site in wanted:
                wanted[site].add(user_id)
            else:
                done.warnings.append(f"{person.login}: site {site} is not in the fleet file")
    for site in sorted(sites, key=lambda s: s or ""):
        team = _ensure_team(api, team_name(site), done)
        for each in folders:
            if each.site == site:
                _set_viewers(api, each, team, done)
        _set_members(api, team, team_name(site), wanted[site], users, done)


def _org_users(api: GrafanaApi) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = api.organization.get_current_organization_users()  # type: ignore[no-untyped-call]
    return users


def _user_id(person: Person, users: list[dict[str, Any]]) -> int | None:
    for user in users:
        if user.get("login") == person.login:
            return int(user["userId"])
    for user in users:
        if person.email and user.get("email") == person.email:
            return int(user["userId"])
    return None


def _ensure_team(api: GrafanaApi, name: str, done: Published) -> int:
    try:
        found = api.teams.get_team_by_name(name)  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        found = []
    for team in found:
        if team.get("name") == name:
            return int(team["id"])
    answer = api.teams.add_team({"name": name})  # type: ignore[no-untyped-call]
    done.changes.append(f"team {name} created")
    return int(answer["teamId"])


def _set_viewers(api: GrafanaApi, each: Folder, team: int, done: Published) -> None:
    """The folder's permissions become exactly: the team may view it."""
    current = api.folder.get_folder_permissions(each.uid)  # type: ignore[no-untyped-call]
    have = {_grantee(item) for item in current if not item.get("inherited")}
    if have == {("team", team, VIEW)}:
        return
    api.folder.update_folder_permissions(  # type: ignore[no-untyped-call]
        each.uid, {"items": [{"teamId": team, "permission": VIEW}]}
    )
    done.changes.append(f"folder {each.title!r}: only team {team_name(each.site)} may view it")


def _grantee(item: dict[str, Any]) -> tuple[str, int | str, int]:
    if item.get("teamId"):
        return ("team", int(item["teamId"]), int(item["permission"]))
    if item.get("userId"):
        return ("user", int(item["userId"]), int(item["permission"]))
    return ("role", str(item.get("role", "")), int(item["permission"]))


def _set_members(
    api: GrafanaApi,
    team: int,
    name: str,
    wanted: set[int],
    users: list[dict[str, Any]],
    done: Published,
) -> None:
    members = api.teams.get_team_members(team)  # type: ignore[no-untyped-call]
    have = {int(member["userId"]) for member in members}
    logins = {int(user["userId"]): str(user.get("login", "")) for user in users}
    for user_id in sorted(wanted - have):
        api.teams.add_team_member(team, user_id)  # type: ignore[no-untyped-call]
        done.changes.append(f"{logins.get(user_id, user_id)} added to team {name}")
    for user_id in sorted(have - wanted):
        api.teams.remove_team_member(team, user_id)  # type: ignore[no-untyped-call]
        done.changes.append(f"{logins.get(user_id, user_id)} removed from team {name}")
