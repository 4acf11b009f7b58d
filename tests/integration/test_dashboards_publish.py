"""`coldchain-dashboards publish` against a stand-in for Grafana's HTTP API (tests/grafana.py).

Grafana itself cannot run on this machine, so these tests check what publish asks of
Grafana's documented API and what a Grafana that did what the documentation says would
end with: a folder per site and language that only the site's team may view, the hub's
folders for the people of every site, the people of the alerts service's export in the
teams of their sites; a second publish changes nothing; a person moved off a site
leaves its team.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coldchain.peoplefile import PeopleFile, Person
from coldchain_dashboards import PublishFailed, build, publish
from coldchain_dashboards.cli import app as dashboards_app
from coldchain_dashboards.publish import EVERY_SITE_TEAM, Published, team_name
from coldchain_dashboards.sites import folders
from tests.grafana import EDIT, TOKEN, VIEW, FakeGrafana
from tests.twosites import CANTEEN, HUB, two_sites, two_sites_yaml

PEOPLE = PeopleFile(
    people=(
        Person(login="k.nord", name="Karin Nord", sites=(CANTEEN,)),
        Person(login="m.mueller", sites=(HUB,)),
        Person(login="hygiene", sites=None),
        Person(login="both", email="both@example.org", sites=(HUB, CANTEEN)),
        Person(login="never-logged-in", sites=(CANTEEN,)),
    )
)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana() as server:
        for login in ("k.nord", "m.mueller", "hygiene", "someone-else"):
            server.state.add_user(login)
        server.state.add_user("b.oth", email="both@example.org")  # found by e-mail
        yield server


def _publish(grafana: FakeGrafana, people: PeopleFile = PEOPLE, **options: bool) -> Published:
    fleet = two_sites()
    boards = build(fleet, per_site=True)
    return publish(boards, folders(fleet, per_site=True), grafana.url, TOKEN, people, **options)


def test_each_sites_folders_are_for_its_team_alone(grafana: FakeGrafana) -> None:
    done = _publish(grafana)

    state = grafana.state
    assert state.unknown == [], "publish used an endpoint the stand-in does not know"
    site_team = {site: ("team", team_name(site), VIEW) for site in (HUB, CANTEEN)}
    assert {uid: state.viewers(uid) for uid in state.folders} == {
        "coldchain-de": {("team", EVERY_SITE_TEAM, VIEW)},
        "coldchain-en": {("team", EVERY_SITE_TEAM, VIEW)},
        f"coldchain-{HUB}-de": {site_team[HUB]},
        f"coldchain-{HUB}-en": {site_team[HUB]},
        f"coldchain-{CANTEEN}-de": {site_team[CANTEEN]},
        f"coldchain-{CANTEEN}-en": {site_team[CANTEEN]},
    }, "Grafana's default (every Viewer and Editor) is gone from every folder"
    assert state.team_logins(team_name(CANTEEN)) == {"k.nord", "b.oth"}
    assert state.team_logins(team_name(HUB)) == {"m.mueller", "b.oth"}
    assert state.team_logins(EVERY_SITE_TEAM) == {"hygiene"}
    assert all("someone-else" not in state.team_logins(team) for team in state.teams.values())
    (missing,) = done.warnings
    assert missing.startswith("never-logged-in: no such user in Grafana")


def test_every_dashboard_is_in_the_folder_of_its_site_and_language(grafana: FakeGrafana) -> None:
    _publish(grafana)

    fleet = two_sites()
    built = build(fleet, per_site=True)
    stored = grafana.state.dashboards
    assert set(stored) == {board["uid"] for board in built.values()}
    for name, board in built.items():
        *site, lang, _ = name.split("/")
        folder = f"coldchain-{site[1]}-{lang}" if site else f"coldchain-{lang}"
        assert stored[board["uid"]]["folderUid"] == folder, name
        kept = {k: v for k, v in stored[board["uid"]]["dashboard"].items() if k != "version"}
        assert kept == {**board, "id": kept["id"]}, name


def test_a_second_publish_changes_nothing(grafana: FakeGrafana) -> None:
    _publish(grafana)
    writes = len(grafana.state.writes())

    again = _publish(grafana)

    assert grafana.state.writes()[writes:] == []
    assert again.changes == [] and again.dashboards == []
    assert again.unchanged == 3 * 8


def test_a_person_moved_off_a_site_leaves_its_team(grafana: FakeGrafana) -> None:
    _publish(grafana)
    moved = PeopleFile(
        people=tuple(
            p.model_copy(update={"sites": (HUB,)}) if p.login == "k.nord" else p
            for p in PEOPLE.people
            if p.login != "hygiene"
        )
    )

    done = _publish(grafana, moved)

    assert grafana.state.team_logins(team_name(CANTEEN)) == {"b.oth"}
    assert grafana.state.team_logins(team_name(HUB)) == {"m.mueller", "b.oth", "k.nord"}
    assert grafana.state.team_logins(EVERY_SITE_TEAM) == set()
    assert sorted(done.changes) == [
        f"hygiene removed from team {EVERY_SITE_TEAM}",
        f"k.nord added to team {team_name(HUB)}",
        f"k.nord removed from team {team_name(CANTEEN)}",
    ]
    deletes = [r.path for r in grafana.state.writes() if r.method == "DELETE"]
    assert len(deletes) == 2


def test_a_folder_opened_to_everybody_by_hand_is_closed_again(grafana: FakeGrafana) -> None:
    _publish(grafana)
    opened = f"coldchain-{CANTEEN}-en"
    grafana.state.permissions[opened].append({**grafana.state.permissions[opened][0]})
    grafana.state.permissions[opened][-1].update(teamId=0, role="Editor", permission=EDIT)

    done = _publish(grafana)

    assert grafana.state.viewers(opened) == {("team", team_name(CANTEEN), VIEW)}
    assert done.changes == [
        f"folder 'coldchain: Kantine Nord (English)': only team {team_name(CANTEEN)} may view it"
    ]


def test_without_dashboards_publish_sets_folders_and_teams_and_leaves_dashboards(
    grafana: FakeGrafana,
) -> None:
    """For compose's Grafana, which loads the dashboards from files (and refuses API
    updates of them)."""
    _publish(grafana, dashboards=False)

    assert grafana.state.dashboards == {}
    assert grafana.state.team_logins(team_name(CANTEEN)) == {"k.nord", "b.oth"}
    assert all(r.path != "/api/dashboards/db" for r in grafana.state.requests)


def test_provisioned_dashboards_are_left_as_grafana_loaded_them(grafana: FakeGrafana) -> None:
    _publish(grafana)
    for stored in grafana.state.dashboards.values():
        stored["provisioned"] = True
        stored["dashboard"]["title"] = "as loaded from the file"

    done = _publish(grafana)

    assert done.dashboards == [] and done.unchanged == 3 * 8


def test_a_token_grafana_refuses_is_said_so(grafana: FakeGrafana) -> None:
    fleet = two_sites()
    with pytest.raises(PublishFailed, match=r"refused the token \(401\).*Admin role"):
        publish(build(fleet), folders(fleet, per_site=True), grafana.url, "wrong", PEOPLE)
    assert grafana.state.writes() == []


def test_the_command_publishes_the_alerts_services_people(
    grafana: FakeGrafana, tmp_path: Path
) -> None:
    """The people file as `coldchain-alerts user export --format grafana` writes it, from
    users added with the alerts service's own command (SQLite)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env["COLDCHAIN_ALERTS_DATABASE_URL"] = f"sqlite:///{tmp_path}/alerts.sqlite3"
    alerts = str(Path(sys.executable).parent / "coldchain-alerts")

    def run(*args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [alerts, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run(
        "user",
        "add",
        "k.nord",
        "officer",
        "--site",
        CANTEEN,
        "--password-stdin",
        stdin="kuehlkette-test\n",
    )
    run("user", "add", "hygiene", "officer", "--password-stdin", stdin="kuehlkette-test\n")
    run("user", "add", "ingest-bot", "admin", "--no-password")  # a machine: not a person
    people = tmp_path / "people.json"
    run("user", "export", "--format", "grafana", str(people))
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(two_sites_yaml())

    options = ["--url", grafana.url, "--token", TOKEN, "--people", str(people)]
    result = CliRunner().invoke(dashboards_app, ["publish", *options, "--fleet", str(fleet)])

    assert result.exit_code == 0, result.output
    assert PeopleFile.from_json(people.read_text()).people == (
        Person(login="hygiene", name="hygiene", sites=None),
        Person(login="k.nord", name="k.nord", sites=(CANTEEN,)),
    )
    assert grafana.state.team_logins(team_name(CANTEEN)) == {"k.nord"}
    assert grafana.state.team_logins(EVERY_SITE_TEAM) == {"hygiene"}
    assert f"k.nord added to team {team_name(CANTEEN)}" in result.output
    assert result.output.count("published /d/") == 3 * 8
    assert "0 dashboards unchanged" in result.output


def test_a_site_the_fleet_does_not_have_is_said_so_and_given_nothing(
    grafana: FakeGrafana,
) -> None:
    people = PeopleFile(people=(Person(login="k.nord", sites=(CANTEEN, "farm-9")),))

    done = _publish(grafana, people)

    assert done.warnings == ["k.nord: site farm-9 is not in the fleet file"]
    assert grafana.state.team_logins(team_name(CANTEEN)) == {"k.nord"}
    assert team_name("farm-9") not in grafana.state.teams.values()
