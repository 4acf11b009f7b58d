"""An officer's API token, as docs/alerts.md tells the admin to make, use and revoke it.

The commands are the documented ones (checked against the document), run as the
admin runs them against the running service's database; the token is then used
against the running service: it reads and works on alerts as the officer may, is
refused what only an admin may, and once revoked is refused altogether.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_devstack import BIN, REPO
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack

DOC = REPO / "docs" / "alerts.md"


def _documented_commands() -> list[str]:
    """The `coldchain-alerts token ...` lines of the administrators' API token section."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n### API tokens\n", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def _cli(stack: ApiStack, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env["COLDCHAIN_ALERTS_DATABASE_URL"] = stack.alerts_database
    return subprocess.run(
        [str(BIN / "coldchain-alerts"), *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _raise_alert(stack: ApiStack) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    event = AlertEvent(
        key=f"temperature_above/van-2.chilled/{started.isoformat()}",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site=SITE,
        asset="van-2-chilled",
        sensor="van-2.chilled",
        started_at=started,
        at=started + timedelta(minutes=15),
        value_c=9.5,
        peak_c=9.5,
        limit_c=6.0,
        delay_s=900,
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", stack.mosquitto.port)
    client.loop_start()
    try:
        client.publish(topics.alerts(SITE), event.model_dump_json(), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Bearer:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(path, json=body)


def test_an_admin_makes_an_officer_a_token_she_uses_until_it_is_revoked(stack: ApiStack) -> None:
    create, listing, revoke = _documented_commands()
    assert create.startswith("coldchain-alerts token create anna --name ")
    assert listing == "coldchain-alerts token list anna"
    assert re.fullmatch(r"coldchain-alerts token revoke \d+", revoke)
    for language in ("Ein API-Token für eigene Programme", "An API token for your own programs"):
        assert f"### {language}\n" in DOC.read_text(encoding="utf-8")

    added = _cli(
        stack,
        *["user", "add", "anna", "officer", "--display-name"],
        "Anna Schmidt",
        "--password-stdin",
        stdin="kuehlkette-nachts-3\n",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    admin = stack.alerts_api  # its token made before the service holds the database
    stack.alerts().start()
    url = f"http://127.0.0.1:{stack.alerts_port}"
    wait_until(lambda: _healthy(url), 30, "the alerts service and its broker connection")
    _raise_alert(stack)
    (alert,) = wait_until(admin.alerts, 30, "the alert")

    made = _cli(stack, *shlex.split(create)[1:])
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    (token_id,) = re.findall(r"token (\d+) of anna", made.stderr)
    anna = Bearer(url, token)

    me = anna.get("/api/v1/me").json()
    assert (me["username"], me["role"], me["display_name"]) == ("anna", "officer", "Anna Schmidt")
    assert anna.get("/api/v1/alerts").status_code == 200
    steps = [
        ("acknowledge", {"comment": "Fahrer kehrt um"}),
        ("decision", {"corrective_action": "Ware umgelagert", "product_decision": "quarantine"}),
    ]
    for step, body in steps:
        done = anna.post(f"/api/v1/alerts/{alert['id']}/{step}", body)
        assert done.status_code == 200, done.text
    for path, body in [
        ("/api/v1/contacts", {"name": "x", "language": "de", "email": "x@hub.example"}),
        ("/api/v1/users/anna/tokens", {"name": "another"}),
    ]:
        refused = anna.post(path, body)
        assert refused.status_code == 403, refused.text
    timeline = admin.get(f"/api/v1/alerts/{alert['id']}").json()["timeline"]
    assert [(s["action"], s["actor"]) for s in timeline[-2:]] == [
        ("acknowledged", "anna"),
        ("decided", "anna"),
    ]

    listed = _cli(stack, *shlex.split(listing)[1:])
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"^{token_id}\tanna\tAnna: phone app\tmade .*\tvalid$", listed.stdout, re.M)
    revoked = _cli(stack, "token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert f"revoked token {token_id} of anna" in revoked.stdout

    refused = anna.get("/api/v1/alerts")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "this API token is unknown or revoked"
    assert "\trevoked " in _cli(stack, *shlex.split(listing)[1:]).stdout
    unknown = _cli(stack, "token", "revoke", "999")
    assert unknown.returncode == 2 and "there is no API token 999" in unknown.stdout
