"""A stand-in for Grafana's HTTP API on loopback: just the endpoints publish uses.

Grafana itself cannot run here (no package registry of this machine has it), so this
threaded `http.server` keeps folders, dashboards, teams, members and folder permissions
in memory and answers as Grafana's HTTP API documentation shows (grafana.com/docs,
"HTTP API": Folder, Folder Permissions, Dashboard, Team, Organization, Data source):
the same paths, status codes and JSON fields. It records every request, so a test can
ask what publish changed. Checked against the documentation only, never against a
running Grafana.

Like Grafana, a new folder gives the organisation's Viewer role View and its Editor
role Edit: publish must take those away.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from coldchain_dashboards.influxql import DATASOURCE_UID

TOKEN = "glsa_test-token"
VIEW, EDIT = 1, 2
_NAMES = {1: "View", 2: "Edit", 4: "Admin"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any


@dataclass
class GrafanaState:
    """What the fake Grafana holds; tests read and change it directly."""

    users: dict[int, dict[str, str]] = field(default_factory=dict)
    """Users of the organisation by id: login, email."""
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By uid: dashboard (JSON with id and version), folderUid, provisioned."""
    teams: dict[int, str] = field(default_factory=dict)
    members: dict[int, set[int]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    unknown: list[Request] = field(default_factory=list)
    """Requests for an endpoint the fake does not implement."""

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    def viewers(self, folder_uid: str) -> set[tuple[str, Any, int]]:
        """Who may see a folder: (team, name, level), (role, name, level), (user, login, level)."""
        found: set[tuple[str, Any, int]] = set()
        for item in self.permissions[folder_uid]:
            if item.get("teamId"):
                found.add(("team", self.teams[item["teamId"]], item["permission"]))
            elif item.get("userId"):
                found.add(("user", self.users[item["userId"]]["login"], item["permission"]))
            else:
                found.add(("role", item["role"], item["permission"]))
        return found

    def team_logins(self, name: str) -> set[str]:
        (team,) = [i for i, n in self.teams.items() if n == name]
        return {self.users[u]["login"] for u in self.members[team]}

    def add_user(self, login: str, email: str = "") -> int:
        user_id = len(self.users) + 2  # 1 is Grafana's admin
        self.users[user_id] = {"login": login, "email": email or f"{login}@example.org"}
        return user_id


class FakeGrafana:
    """`with FakeGrafana() as grafana:` serves on `grafana.url` until the block ends."""

    def __init__(self) -> None:
        self.state = GrafanaState()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state, self._lock))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


Answer = tuple[int, Any]


def _handler(state: GrafanaState, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            request = Request(method, self.path, body)
            with lock:
                state.requests.append(request)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    status, answer = 401, {"message": "Unauthorized"}
                else:
                    status, answer = _route(state, request)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _route(state: GrafanaState, request: Request) -> Answer:
    parts = urlsplit(request.path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for method, pattern, serve in _ROUTES:
        match = re.fullmatch(pattern, parts.path)
        if match and method == request.method:
            answer: Answer = serve(state, request.body, query, *match.groups())
            return answer
    state.unknown.append(request)
    return 404, {"message": "Not found"}


def _datasource(state: GrafanaState, body: Any, query: dict[str, str], uid: str) -> Answer:
    if uid != DATASOURCE_UID:
        return 404, {"message": "Data source not found"}
    return 200, {"id": 1, "uid": uid, "name": "InfluxDB", "type": "influxdb"}


def _get_folder(state: GrafanaState, body: Any, query: dict[str, str], uid: str) -> Answer:
    if uid not in state.folders:
        return 404, {"message": "folder not found", "status": "not-found"}
    return 200, state.folders[uid]


def _create_folder(state: GrafanaState, body: Any, query: dict[str, str]) -> Answer:
    uid = body["uid"]
    if uid in state.folders:
        return 409, {"message": "a folder with the same uid already exists"}
    folder = {
        "id": len(state.folders) + 1,
        "uid": uid,
        "title": body["title"],
        "url": f"/dashboards/f/{uid}/",
        "version": 1,
    }
    state.folders[uid] = folder
    state.permissions[uid] = [
        _permission(folder, role="Viewer", permission=VIEW),
        _permission(folder, role="Editor", permission=EDIT),
    ]
    return 200, folder


def _get_permissions(state: GrafanaState, body: Any, query: dict[str, str], uid: str) -> Answer:
    if uid not in state.folders:
        return 404, {"message": "folder not found"}
    return 200, state.permissions[uid]


def _set_permissions(state: GrafanaState, body: Any, query: dict[str, str], uid: str) -> Answer:
    if uid not in state.folders:
        return 404, {"message": "folder not found"}
    folder = state.folders[uid]
    items = []
    for item in body["items"]:
        if item.get("teamId") and item["teamId"] not in state.teams:
            return 400, {"message": "team not found"}
        items.append(_permission(folder, **item))
    state.permissions[uid] = items
    return 200, {"message": "Folder permissions updated"}


def _permission(
    folder: dict[str, Any],
    *,
    permission: int,
    role: str = "",
    teamId: int = 0,  # noqa: N803 - Grafana's field names
    userId: int = 0,  # noqa: N803
) -> dict[str, Any]:
    return {
        "id": 0,
        "folderId": folder["id"],
        "userId": userId,
        "userLogin": "",
        "userEmail": "",
        "teamId": teamId,
        "team": "",
        "role": role,
        "permission": permission,
        "permissionName": _NAMES[permission],
        "uid": folder["uid"],
        "title": folder["title"],
        "slug": folder["uid"],
        "isFolder": True,
        "url": folder["url"],
        "inherited": False,
    }


def _get_dashboard(state: GrafanaState, body: Any, query: dict[str, str], uid: str) -> Answer:
    if uid not in state.dashboards:
        return 404, {"message": "Dashboard not found"}
    stored = state.dashboards[uid]
    meta = {
        "type": "db",
        "slug": uid,
        "url": f"/d/{uid}/{uid}",
        "folderUid": stored["folderUid"],
        "provisioned": stored["provisioned"],
    }
    return 200, {"dashboard": stored["dashboard"], "meta": meta}


def _save_dashboard(state: GrafanaState, body: Any, query: dict[str, str]) -> Answer:
    board = body["dashboard"]
    uid = board["uid"]
    old = state.dashboards.get(uid)
    if old and old["provisioned"]:
        return 400, {"message": "Cannot save provisioned dashboard"}
    if body["folderUid"] not in state.folders:
        return 400, {"message": "folder not found"}
    version = old["dashboard"]["version"] + 1 if old else 1
    number = old["dashboard"]["id"] if old else len(state.dashboards) + 1
    state.dashboards[uid] = {
        "dashboard": {**board, "id": number, "version": version},
        "folderUid": body["folderUid"],
        "provisioned": False,
    }
    return 200, {
        "id": number,
        "uid": uid,
        "url": f"/d/{uid}/{uid}",
        "status": "success",
        "version": version,
        "slug": uid,
    }


def _search_teams(state: GrafanaState, body: Any, query: dict[str, str]) -> Answer:
    name = query.get("name")
    found = [
        {
            "id": team,
            "orgId": 1,
            "name": team_name,
            "email": "",
            "avatarUrl": f"/avatar/{team}",
            "memberCount": len(state.members[team]),
        }
        for team, team_name in state.teams.items()
        if name is None or team_name == name
    ]
    return 200, {"totalCount": len(found), "teams": found, "page": 1, "perPage": 1000}


def _add_team(state: GrafanaState, body: Any, query: dict[str, str]) -> Answer:
    if body["name"] in state.teams.values():
        return 409, {"message": "Team name taken"}
    team = len(state.teams) + 1
    state.teams[team] = body["name"]
    state.members[team] = set()
    return 200, {"message": "Team created", "teamId": team}


def _team_members(state: GrafanaState, body: Any, query: dict[str, str], team: str) -> Answer:
    number = int(team)
    if number not in state.teams:
        return 404, {"message": "Team not found"}
    return 200, [
        {
            "orgId": 1,
            "teamId": number,
            "userId": user,
            "email": state.users[user]["email"],
            "login": state.users[user]["login"],
            "avatarUrl": f"/avatar/{user}",
            "labels": [],
        }
        for user in sorted(state.members[number])
    ]


def _add_member(state: GrafanaState, body: Any, query: dict[str, str], team: str) -> Answer:
    number, user = int(team), body["userId"]
    if number not in state.teams or user not in state.users:
        return 404, {"message": "Team not found"}
    if user in state.members[number]:
        return 400, {"message": "User is already added to this team"}
    state.members[number].add(user)
    return 200, {"message": "Member added to Team"}


def _remove_member(
    state: GrafanaState, body: Any, query: dict[str, str], team: str, user: str
) -> Answer:
    number = int(team)
    if number not in state.teams or int(user) not in state.members[number]:
        return 404, {"message": "Team member not found"}
    state.members[number].discard(int(user))
    return 200, {"message": "Team Member removed"}


def _org_users(state: GrafanaState, body: Any, query: dict[str, str]) -> Answer:
    return 200, [
        {
            "orgId": 1,
            "userId": user,
            "email": fields["email"],
            "avatarUrl": f"/avatar/{user}",
            "login": fields["login"],
            "role": "Viewer",
            "lastSeenAt": "2026-12-07T04:00:00Z",
            "lastSeenAtAge": "1h",
        }
        for user, fields in sorted(state.users.items())
    ]


_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", r"/api/datasources/uid/([^/]+)", _datasource),
    ("GET", r"/api/folders/([^/]+)", _get_folder),
    ("POST", r"/api/folders", _create_folder),
    ("GET", r"/api/folders/([^/]+)/permissions", _get_permissions),
    ("POST", r"/api/folders/([^/]+)/permissions", _set_permissions),
    ("GET", r"/api/dashboards/uid/([^/]+)", _get_dashboard),
    ("POST", r"/api/dashboards/db", _save_dashboard),
    ("GET", r"/api/teams/search", _search_teams),
    ("POST", r"/api/teams", _add_team),
    ("GET", r"/api/teams/(\d+)/members", _team_members),
    ("POST", r"/api/teams/(\d+)/members", _add_member),
    ("DELETE", r"/api/teams/(\d+)/members/(\d+)", _remove_member),
    ("GET", r"/api/org/users", _org_users),
]
