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
