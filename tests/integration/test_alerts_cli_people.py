"""Step 7 of docs/operations.md, "A user", by the commands the text gives.

A hub that adds a canteen's officer must see the contact ids before `policy set`
replaces a site's levels; `contact list` and `policy list` show them, and what
`policy list` prints is what `policy set` takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def _runner(cwd: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    # SQLite only: these commands share the ORM code that the API tests run on both.
    env["COLDCHAIN_ALERTS_DATABASE_URL"] = f"sqlite:///{cwd / 'alerts.sqlite3'}"
    cli = str(Path(sys.executable).parent / "coldchain-alerts")

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60
        )

    return run


def test_a_canteen_officer_is_added_with_her_contact_and_escalation(tmp_path: Path) -> None:
    run = _runner(tmp_path)
    assert run("policy", "list").stdout == "no escalation policies: nobody is told of an alert\n"
    assert run("contact", "list").stdout == "no contacts\n"
    added = run(
        *["user", "add", "k.nord", "officer", "--display-name", "Karin Nord"],
        *["--site", "kantine-nord", "--password-stdin"],
        stdin="Kuehlkette-2026!\n",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    karin = run("contact", "add", "Karin Nord", "--email", "k.nord@kantine.example")
    duty = run("contact", "add", "Bereitschaft", "--language", "en", "--phone", "+491701234567")
    karin_id, duty_id = int(karin.stdout), int(duty.stdout)
    assert run("contact", "list").stdout.splitlines() == [
        f"{duty_id}\tBereitschaft\ten\tsms +491701234567",
        f"{karin_id}\tKarin Nord\tde\temail k.nord@kantine.example",
    ]
    # Everyone of one level is told at once; `list` gives a level's ids in ascending order.
    both = ",".join(map(str, sorted((karin_id, duty_id))))
    levels = ["--level", str(karin_id), "--level", both]
    assert run("policy", "set", "kantine-nord", *levels).returncode == 0
    shown = run("policy", "list").stdout
    assert shown == f"kantine-nord\t{' '.join(levels)} --ack-timeout-s 900\n"

    # What `policy list` prints, given back to `policy set`, changes nothing.
    site, arguments = shown.rstrip("\n").split("\t")
    assert run("policy", "set", site, *arguments.split()).returncode == 0
    assert run("policy", "list").stdout == shown


def test_a_command_line_change_is_not_undone_by_the_running_service_writing(
    tmp_path: Path,
) -> None:
    """The CLI runs beside a live service on one SQLite file. A transaction that reads
    before it writes (`contact add` looks for a clash first) must hold the write lock
    from its start: else a write of the service in between makes its own write fail
    at once with "database is locked" (SQLite's busy timeout cannot help a stale read)."""
    import sqlite3

    from sqlalchemy import select

    from coldchain_alerts import cli
    from coldchain_alerts.models import Contact
    from coldchain_alerts.settings import AlertsSettings

    path = tmp_path / "alerts.sqlite3"
    sessions = cli._sessions(AlertsSettings(database_url=f"sqlite:///{path}"))
    with sessions.begin() as session:
        assert session.scalars(select(Contact)).all() == []
        service = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            service.execute("INSERT INTO contact (name, language, active) VALUES ('x', 'de', 1)")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)  # the service waits for the command instead
        finally:
            service.close()
        session.add(Contact(name="Karin Nord", language="de", active=True))
    with sessions() as session:
        assert "Karin Nord" in session.scalars(select(Contact.name)).all()
