"""Mosquitto's dynamic-security plugin: the broker's accounts and rights, and its commands.

The broker loads the plugin (deploy/mosquitto/mosquitto.conf) and keeps its accounts,
roles and rights in its own JSON file, which it writes on every change. Two ways in:

- the rights every account gets (`admin_role`, `ingest_role`, `alerts_role`,
  `gateway_role`), which `coldchain-broker-users` writes into the file before the
  broker's first start, and the alerts service sends as commands when it registers a
  gateway: one definition for both;
- `DynsecAdmin`, a short MQTT connection with the broker's admin account that sends
  commands on `$CONTROL/dynamic-security/v1` and waits for the answer on
  `$CONTROL/dynamic-security/v1/response`, raising with the plugin's message.

A gateway's topics are written out literally in a role of its own: the plugin of
Mosquitto 2.0 expands no `%u` in its rights.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from coldchain import topics
from coldchain_io import mqtt as mqtt_io

CONTROL = "$CONTROL/dynamic-security/v1"
RESPONSE = f"{CONTROL}/response"

ADMIN = "broker-admin"
"""The username of the broker's admin account: it changes accounts and nothing else."""
INGEST = "ingest"
ALERTS = "alerts"

#: What an account may do where no role says otherwise: nothing but unsubscribing.
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}


@dataclass(frozen=True)
class Acl:
    """One right in the plugin's terms: `acltype` is publishClientSend (publish),
    publishClientReceive (be delivered), subscribeLiteral or subscribePattern."""

    acltype: str
    topic: str

    def as_json(self) -> dict[str, Any]:
        return {"acltype": self.acltype, "topic": self.topic, "allow": True}


@dataclass(frozen=True)
class Role:
    name: str
    acls: tuple[Acl, ...]

    def as_json(self) -> dict[str, Any]:
        return {"rolename": self.name, "acls": [acl.as_json() for acl in self.acls]}


def _reads(topic_filter: str) -> tuple[Acl, ...]:
    """Subscribing to `topic_filter` and being delivered what it matches."""
    kind = "subscribePattern" if {"+", "#"} & set(topic_filter.split("/")) else "subscribeLiteral"
    return (Acl(kind, topic_filter), Acl("publishClientReceive", topic_filter))


def _writes(topic: str) -> tuple[Acl, ...]:
    return (Acl("publishClientSend", topic),)


def admin_role() -> Role:
    """The admin: sends commands to the plugin and reads its answers, nothing else."""
    return Role(ADMIN, (*_writes(f"{CONTROL}"), *_reads(f"{RESPONSE}")))


def ingest_role() -> Role:
    """Reads gateways' telemetry and status, keeps their durable marks, publishes rejected
    messages and alert events, reads the alerts service's receipts and the fleet versions."""
    return Role(
        INGEST,
        (
            *_reads(topics.TELEMETRY_FILTER),
            *_reads(topics.STATUS_FILTER),
            *_reads(topics.DURABLE_FILTER),
            *_writes(topics.DURABLE_FILTER),
            *_writes(topics.INVALID_FILTER),
            *_writes(topics.ALERTS_FILTER),
            *_reads(topics.ALERT_RECEIPTS),
            *_reads(topics.FLEET_FILTER),
        ),
    )


def alerts_role() -> Role:
    """Reads alert events, confirms those it stored, publishes the fleet versions."""
    return Role(
        ALERTS,
        (
            *_reads(topics.ALERTS_FILTER),
            *_writes(topics.ALERT_RECEIPTS),
            *_writes(topics.FLEET_FILTER),
        ),
    )


def gateway_username(site: str, gateway: str) -> str:
    """A gateway's username: its site and gateway ids (checked by the caller) joined by "/"."""
    return f"{site}/{gateway}"


def gateway_role(site: str, gateway: str) -> Role:
    """Publishes its telemetry and status (also its last will), reads its durable mark."""
    return Role(
        f"gateway/{gateway_username(site, gateway)}",
        (
            *_writes(topics.telemetry(site, gateway)),
            *_writes(topics.status(site, gateway)),
            *_reads(topics.durable(site, gateway)),
        ),
    )


class DynsecError(Exception):
    """The plugin refused a command; the message is the plugin's own."""


class DynsecUnavailable(Exception):
    """The broker could not be reached, refused the admin's login, or did not answer."""


class DynsecAdmin:
    """Sends commands with the admin account of `settings`, one connection per call.

    One connection per call, as commands are rare (a gateway registered or retired):
    nothing to keep alive or reconnect. The broker gives an account one connection at a
    time: calls of one process take turns, and two processes calling at once end one
    of the calls (DynsecUnavailable).
    """

    _turn = threading.Lock()

    def __init__(self, settings: mqtt_io.MqttSettings, timeout_s: float = 10.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s

    def create_gateway(self, site: str, gateway: str, password: str) -> None:
        """The gateway's role and its account, in one message: the plugin runs them in turn."""
        role = gateway_role(site, gateway)
        self.run(
            {"command": "createRole", **role.as_json()},
            {
                "command": "createClient",
                "username": gateway_username(site, gateway),
                "password": password,
                "roles": [{"rolename": role.name}],
            },
        )

    def disable(self, username: str) -> None:
        """Refuse the account's logins from now on; the plugin closes its live connection."""
        self.run({"command": "disableClient", "username": username})

    def run(self, *commands: dict[str, Any]) -> list[dict[str, Any]]:
        """Send `commands` and return the plugin's answers, one per command.

        Raises DynsecError with the plugin's message for the first refused command
        (those before it took effect), DynsecUnavailable without an answer in time.
        """
        with self._turn:
            responses = self._send(list(commands))
        for command, response in zip(commands, responses, strict=False):
            if response.get("error"):
                raise DynsecError(f"{command['command']}: {response['error']}")
        return responses

    def _send(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answers: queue.Queue[ReasonCode | mqtt.MQTTMessage] = queue.Queue()
        # The plugin echoes a command's own correlationData in its answer (not MQTT 5's).
        correlation = uuid.uuid4().hex
        tagged = [command | {"correlationData": correlation} for command in commands]
        client = mqtt_io.client(self._settings, "", reconnect_s=(1, 1))
        client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(reason)
        client.on_subscribe = lambda _c, _u, _m, reasons, _p: answers.put(reasons[0])
        client.on_message = lambda _c, _u, message: answers.put(message)
        try:
            client.connect(
                self._settings.mqtt_host, self._settings.mqtt_port, keepalive=mqtt_io.KEEPALIVE_S
            )
        except OSError as exc:
            raise DynsecUnavailable(f"cannot reach the broker: {exc}") from None
        client.loop_start()
        try:
            self._expect_success(answers, "the broker's answer to the admin's login")
            client.subscribe(RESPONSE, qos=1)
            self._expect_success(answers, f"the subscription to {RESPONSE}")
            client.publish(CONTROL, json.dumps({"commands": tagged}), qos=1)
            return self._responses(answers, correlation)
        finally:
            client.disconnect()
            client.loop_stop()

    def _next(self, answers: queue.Queue[ReasonCode | mqtt.MQTTMessage], what: str) -> Any:
        try:
            return answers.get(timeout=self._timeout_s)
        except queue.Empty:
            raise DynsecUnavailable(
                f"no answer from the broker within {self._timeout_s} s: waited for {what}"
            ) from None

    def _expect_success(
        self, answers: queue.Queue[ReasonCode | mqtt.MQTTMessage], what: str
    ) -> None:
        reason = self._next(answers, what)
        if not isinstance(reason, ReasonCode) or reason.is_failure:
            raise DynsecUnavailable(
                f"the broker refused {what}: {reason} (check the admin account's "
                "username and password, and that the broker loads the dynamic-security plugin)"
            )

    def _responses(
        self, answers: queue.Queue[ReasonCode | mqtt.MQTTMessage], correlation: str
    ) -> list[dict[str, Any]]:
        while True:
            message = self._next(answers, f"the answer on {RESPONSE}")
            if not isinstance(message, mqtt.MQTTMessage):
                continue
            responses: list[dict[str, Any]] = json.loads(message.payload)["responses"]
            if responses and responses[0].get("correlationData") == correlation:
                return responses
