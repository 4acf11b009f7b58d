"""The production broker's security, proven with real clients against a real Mosquitto.

The broker runs the production security (coldchain_devstack.localstack: no anonymous
clients, the dynamic-security plugin, usernames as client ids, TLS) with accounts
made by coldchain-broker-users and a certificate authority made by openssl for the
test. What a client may publish shows in its PUBACK (MQTT 5 "not authorized"); what
it may subscribe to in its SUBACK; what it may read shows in what arrives. A message that must
never arrive is checked against a later one that must: the broker delivers one
subscriber's messages in the order it accepted them.
"""

from __future__ import annotations

import queue
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from coldchain import topics
from coldchain.contract import AlertEvent, AlertReceipt, AlertState, Severity
from coldchain_devstack import REPO, broker_users
from coldchain_devstack.servers import (
    CertificateAuthority,
    InfluxDB,
    Mosquitto,
    SecuredMosquitto,
    certificate_authority,
    free_port,
    service,
    wait_until,
)
from coldchain_devstack.stack import SITE
from tests.alertsapi import AlertsApi, ApiStack, token_for

VAN_1 = broker_users.gateway_username(SITE, "van-1")
VAN_2 = broker_users.gateway_username(SITE, "van-2")
COLD_ROOM = broker_users.gateway_username(SITE, "cold-room-1")
PASSWORDS = {
    name: broker_users.new_password() for name in ("ingest", "alerts", VAN_1, VAN_2, COLD_ROOM)
}
#: Usernames the script refuses: in a gateway's role they would be wildcards.
DANGEROUS = [f"{SITE}/+", f"{SITE}/#"]
#: How long a message that must not arrive is waited for when no later message can
#: show it would have arrived by then.
GRACE_S = 0.5


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return certificate_authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("accounts") / "dynamic-security.json"
    for username, password in PASSWORDS.items():
        broker_users.set_password(path, username, password)
    return path.read_text()


@pytest.fixture
def broker(
    tmp_path: Path, accounts: str, authority: CertificateAuthority
) -> Iterator[SecuredMosquitto]:
    # A copy per broker: the broker writes its file on every change.
    dynsec_file = tmp_path / "dynamic-security.json"
    dynsec_file.write_text(accounts)
    server = SecuredMosquitto(tmp_path, dynsec_file, authority)
    server.start()
    yield server
    server.stop()


class Client:
    """A paho MQTT 5 client that records what the broker answers and delivers."""

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None = None,
        *,
        client_id: str = "",
        ca_file: Path | None = None,
        clean_start: bool = True,
        session_expiry_s: int = 0,
    ) -> None:
        self.port = port
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._outcome: queue.Queue[ReasonCode] = queue.Queue()
        self._subscribed: queue.Queue[tuple[int, ReasonCode]] = queue.Queue()
        self._acks: dict[int, ReasonCode] = {}
        self._acks_lock = threading.Lock()
        self._clean_start = clean_start
        self._session_expiry_s = session_expiry_s
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,
        )
        if username is not None:
            client.username_pw_set(username, password or PASSWORDS.get(username))
        if ca_file is not None:
            client.tls_set(ca_certs=str(ca_file))
        client.on_connect = lambda _c, _u, _f, reason, _p: self._outcome.put(reason)
        client.on_disconnect = lambda _c, _u, _f, reason, _p: self._outcome.put(reason)
        client.on_subscribe = lambda _c, _u, mid, reasons, _p: self._subscribed.put(
            (mid, reasons[0])
        )
        client.on_message = lambda _c, _u, message: self.messages.put(message)
        client.on_publish = self._on_publish
        self.paho = client

    def connect(self) -> ReasonCode:
        """CONNACK's reason code, or why the connection ended without one."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self._session_expiry_s
        self.paho.connect(
            "127.0.0.1", self.port, clean_start=self._clean_start, properties=properties
        )
        self.paho.loop_start()
        reason = self._outcome.get(timeout=10)
        if reason.is_failure:
            self.paho.loop_stop()
        return reason

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the reason code of the broker's PUBACK."""
        info = self.paho.publish(topic, payload, qos=1, retain=retain)
        ack: ReasonCode = wait_until(lambda: self._ack(info.mid), 10, f"PUBACK of {topic}")
        return ack

    def subscribe(self, topic_filter: str) -> ReasonCode:
        """Subscribe at QoS 1; the reason code of the broker's SUBACK."""
        _, mid = self.paho.subscribe(topic_filter, qos=1)
        answered_mid, reason = self._subscribed.get(timeout=10)
        assert answered_mid == mid
        return reason

    def received(self, count: int) -> list[tuple[str, bytes]]:
        """The next `count` messages as (topic, payload), waiting for each."""
        found = []
        for _ in range(count):
            message = self.messages.get(timeout=10)
            found.append((message.topic, bytes(message.payload)))
        return found

    def nothing_within(self, seconds: float) -> bool:
        try:
            message = self.messages.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message on {message.topic}: {message.payload!r}")

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, _p: object
    ) -> None:
        with self._acks_lock:
            self._acks[mid] = reason

    def _ack(self, mid: int) -> ReasonCode | None:
        with self._acks_lock:
            return self._acks.get(mid)


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.close()


def connected(clients: list[Client], port: int, username: str, **options: Any) -> Client:
    client = Client(port, username, **options)
    reason = client.connect()
    assert not reason.is_failure, f"{username}: {reason}"
    clients.append(client)
    return client


def allowed(reason: ReasonCode) -> bool:
    return not reason.is_failure


def denied(reason: ReasonCode) -> bool:
    return reason == ReasonCode(PacketTypes.PUBACK, "Not authorized")


def attempt(port: int, username: str, topic: str, **options: Any) -> ReasonCode:
    """Publish once on a connection of its own; the reason code of the PUBACK.

    Its own connection because Mosquitto 2.0.11 closes a connection after denying a
    QoS 1 publish when max_queued_messages is 0 (fixed in 2.0.22: issue #3244).
    """
    client = Client(port, username, **options)
    assert allowed(client.connect()), username
    try:
        return client.publish(topic, b"attempt")
    finally:
        client.close()


# --- who may connect --------------------------------------------------------------------


def test_anonymous_clients_and_wrong_passwords_are_refused(broker: SecuredMosquitto) -> None:
    attempts = [
        (None, None),
        ("ingest", "wrong"),
        (VAN_1, PASSWORDS[VAN_2]),
        (f"{SITE}/van-9", PASSWORDS[VAN_1]),
    ]
    for username, password in attempts:
        reason = Client(broker.port, username, password).connect()
        assert reason.is_failure, f"{username!r} logged in with {password!r}"


def _compose_healthcheck(port: int) -> int:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    kind, command = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    command = command.replace("$$", "$").replace("-p 1883", f"-p {port}")
    return subprocess.run(["sh", "-c", command], timeout=15).returncode


def test_compose_healthcheck_passes_only_if_anonymous_clients_are_refused(
    broker: SecuredMosquitto, mosquitto: Mosquitto
) -> None:
    assert _compose_healthcheck(broker.port) == 0
    assert _compose_healthcheck(mosquitto.port) != 0, "the anonymous local broker"


# --- what each account may publish and read ---------------------------------------------


def test_a_gateway_publishes_its_own_telemetry_and_status_only(
    broker: SecuredMosquitto, clients: list[Client]
) -> None:
    ingest = connected(clients, broker.port, "ingest")
    for topic_filter in (topics.TELEMETRY_FILTER, topics.STATUS_FILTER, topics.DURABLE_FILTER):
        ingest.subscribe(topic_filter)
    alerts = connected(clients, broker.port, "alerts")
    alerts.subscribe(topics.ALERTS_FILTER)

    forged = [
        topics.telemetry(SITE, "van-2"),
        topics.status(SITE, "van-2"),
        topics.telemetry("hamburg-hub", "van-1"),
        topics.durable(SITE, "van-1"),
        topics.alerts(SITE),
        topics.invalid(SITE, "van-1"),
    ]
    for topic in forged:
        assert denied(attempt(broker.port, VAN_1, topic)), topic
    own = [topics.telemetry(SITE, "van-1"), topics.status(SITE, "van-1")]
    van_1 = connected(clients, broker.port, VAN_1)
    for topic in own:
        assert allowed(van_1.publish(topic, b"own")), topic
    assert allowed(ingest.publish(topics.alerts(SITE), b"sentinel"))

    assert ingest.received(2) == [(topic, b"own") for topic in own]
    assert alerts.received(1) == [(topics.alerts(SITE), b"sentinel")]
    assert ingest.nothing_within(0) and alerts.nothing_within(0)


def test_a_gateway_leaves_a_last_will_on_its_own_status_only(
    broker: SecuredMosquitto, clients: list[Client]
) -> None:
    ingest = connected(clients, broker.port, "ingest")
    ingest.subscribe(topics.STATUS_FILTER)
    with_will = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
    for status in (topics.status(SITE, "van-2"), topics.status(SITE, "van-1")):
        van_1 = Client(broker.port, VAN_1)
        van_1.paho.will_set(status, topics.STATUS_OFFLINE, qos=1)
        assert allowed(van_1.connect())
        van_1.paho.disconnect(reasoncode=with_will)
        van_1.paho.loop_stop()

    assert ingest.received(1) == [(topics.status(SITE, "van-1"), topics.STATUS_OFFLINE)]
    assert ingest.nothing_within(GRACE_S)


def test_a_gateway_reads_its_own_durable_mark_only(
    broker: SecuredMosquitto, clients: list[Client]
) -> None:
    ingest = connected(clients, broker.port, "ingest")
    for gateway in ("van-2", "van-1"):
        assert allowed(ingest.publish(topics.durable(SITE, gateway), b"retained", retain=True))
    van_1 = connected(clients, broker.port, VAN_1)
    for other in ("#", topics.DURABLE_FILTER, topics.durable(SITE, "van-2")):
        assert van_1.subscribe(other).is_failure, other
    assert allowed(van_1.subscribe(topics.durable(SITE, "van-1")))
    assert van_1.received(1) == [(topics.durable(SITE, "van-1"), b"retained")]

    van_2 = connected(clients, broker.port, VAN_2)
    assert allowed(van_2.publish(topics.telemetry(SITE, "van-2"), b"other"))
    assert allowed(van_2.publish(topics.status(SITE, "van-2"), b"other"))
    assert allowed(ingest.publish(topics.durable(SITE, "van-2"), b"live"))
    assert allowed(ingest.publish(topics.alerts(SITE), b"live"))
    assert allowed(ingest.publish(topics.durable(SITE, "van-1"), b"sentinel"))
    assert van_1.received(1) == [(topics.durable(SITE, "van-1"), b"sentinel")]
    assert van_1.nothing_within(0)


def test_ingest_reads_gateways_and_publishes_marks_rejects_and_alerts(
    broker: SecuredMosquitto, clients: list[Client]
) -> None:
    for topic in (topics.telemetry(SITE, "van-1"), topics.status(SITE, "van-1")):
        assert denied(attempt(broker.port, "ingest", topic)), topic
    ingest = connected(clients, broker.port, "ingest")
    assert ingest.subscribe("#").is_failure
    for topic_filter in (
        topics.TELEMETRY_FILTER,
        topics.STATUS_FILTER,
        topics.DURABLE_FILTER,
        topics.ALERT_RECEIPTS,
    ):
        assert allowed(ingest.subscribe(topic_filter)), topic_filter
    for topic_filter in (topics.ALERTS_FILTER, topics.INVALID_FILTER):
        assert ingest.subscribe(topic_filter).is_failure, topic_filter
    van_1 = connected(clients, broker.port, VAN_1)
    for topic in (topics.telemetry(SITE, "van-1"), topics.status(SITE, "van-1")):
        assert allowed(van_1.publish(topic, b"gateway")), topic
    for topic in (topics.invalid(SITE, "van-1"), topics.alerts(SITE)):
        assert allowed(ingest.publish(topic, b"ingest")), topic
    assert allowed(ingest.publish(topics.durable(SITE, "van-1"), b"mark", retain=True))
    alerts = connected(clients, broker.port, "alerts")
    assert allowed(alerts.publish(topics.ALERT_RECEIPTS, b"receipt"))

    assert ingest.received(4) == [
        (topics.telemetry(SITE, "van-1"), b"gateway"),
        (topics.status(SITE, "van-1"), b"gateway"),
        (topics.durable(SITE, "van-1"), b"mark"),
        (topics.ALERT_RECEIPTS, b"receipt"),
    ]
    assert ingest.nothing_within(0)


def test_alerts_reads_alert_events_only_and_publishes_receipts_only(
    broker: SecuredMosquitto, clients: list[Client]
) -> None:
    for topic in (topics.alerts(SITE), topics.telemetry(SITE, "van-1"), "anything/else"):
        assert denied(attempt(broker.port, "alerts", topic)), topic
    assert allowed(attempt(broker.port, "alerts", topics.ALERT_RECEIPTS))
    for account in (VAN_1, "ingest"):
        assert denied(attempt(broker.port, account, topics.ALERT_RECEIPTS)), account
    alerts = connected(clients, broker.port, "alerts")
    for topic_filter in ("#", topics.TELEMETRY_FILTER, topics.DURABLE_FILTER):
        assert alerts.subscribe(topic_filter).is_failure, topic_filter
    assert allowed(alerts.subscribe(topics.ALERTS_FILTER))
    ingest = connected(clients, broker.port, "ingest")
    van_1 = connected(clients, broker.port, VAN_1)
    assert allowed(van_1.publish(topics.telemetry(SITE, "van-1"), b"reading"))
    assert allowed(ingest.publish(topics.durable(SITE, "van-1"), b"mark"))
    assert allowed(ingest.publish(topics.invalid(SITE, "van-1"), b"notice"))
    assert allowed(ingest.publish(topics.alerts(SITE), b"event"))

    assert alerts.received(1) == [(topics.alerts(SITE), b"event")]
    assert alerts.nothing_within(0)


# --- + and # in usernames and client ids ------------------------------------------------


def test_the_script_refuses_usernames_that_could_be_wildcards(tmp_path: Path) -> None:
    for username in [*DANGEROUS, "+", "#", f"{SITE}/van-1/+", "_alerts/x", "Van-1", "van-1"]:
        with pytest.raises(broker_users.AccountError):
            broker_users.set_password(tmp_path / "dynsec.json", username, "password")
    assert not (tmp_path / "dynsec.json").exists()


def test_client_ids_are_replaced_by_usernames(
    broker: SecuredMosquitto, clients: list[Client]
) -> None:
    """A client id with + or #, or another account's, gives no rights and takes no session.

    The session test: ingest's persistent session holds a message while ingest is
    away; a gateway connecting with a clean start under ingest's client id would
    discard it, if it got that session.
    """
    client_ids = [f"{SITE}/+", "#", "coldchain-ingest", "ingest"]
    away = {"clean_start": False, "session_expiry_s": 300}
    ingest = connected(clients, broker.port, "ingest", client_id="coldchain-ingest", **away)
    ingest.subscribe(topics.TELEMETRY_FILTER)
    ingest.close()
    for client_id in client_ids:
        assert denied(
            attempt(broker.port, VAN_1, topics.telemetry(SITE, "van-2"), client_id=client_id)
        )
        van_1 = connected(clients, broker.port, VAN_1, client_id=client_id)
        van_1.subscribe(topics.TELEMETRY_FILTER)
        assert allowed(van_1.publish(topics.telemetry(SITE, "van-1"), client_id.encode()))
        van_1.close()

    ingest = connected(clients, broker.port, "ingest", client_id="coldchain-ingest", **away)
    assert ingest.received(len(client_ids)) == [
        (topics.telemetry(SITE, "van-1"), client_id.encode()) for client_id in client_ids
    ]


# --- TLS ----------------------------------------------------------------------------------


def test_tls_listener_is_trusted_with_the_test_ca_only(
    broker: SecuredMosquitto, tmp_path: Path
) -> None:
    trusted_ca = broker.authority.certificate
    assert allowed(
        attempt(broker.tls_port, VAN_1, topics.telemetry(SITE, "van-1"), ca_file=trusted_ca)
    )

    stranger = certificate_authority(tmp_path / "stranger")
    with pytest.raises(ssl.SSLCertVerificationError):
        Client(broker.tls_port, VAN_1, ca_file=stranger.certificate).connect()
    assert Client(broker.tls_port, VAN_1).connect().is_failure, "plain MQTT on the TLS port"

    command = [
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.tls_port), "-u", VAN_1,
        "-P", PASSWORDS[VAN_1], "-t", topics.status(SITE, "van-1"), "-m", "online", "-q", "1",
    ]  # fmt: skip
    trusted = ["--cafile", str(broker.authority.certificate)]
    assert subprocess.run([*command, *trusted], capture_output=True).returncode == 0
    untrusted = ["--cafile", str(stranger.certificate)]
    assert subprocess.run([*command, *untrusted], capture_output=True).returncode != 0


# --- our services -------------------------------------------------------------------------


def _tls_settings(prefix: str, broker: SecuredMosquitto, username: str) -> dict[str, str]:
    return {
        f"{prefix}MQTT_HOST": "127.0.0.1",
        f"{prefix}MQTT_PORT": str(broker.tls_port),
        f"{prefix}MQTT_TLS": "true",
        f"{prefix}MQTT_CA_FILE": str(broker.authority.certificate),
        f"{prefix}MQTT_USERNAME": username,
        f"{prefix}MQTT_PASSWORD": PASSWORDS[username],
    }


@pytest.fixture
def secured_stack(
    request: pytest.FixtureRequest, tmp_path: Path, broker: SecuredMosquitto, influxdb: InfluxDB
) -> Iterator[ApiStack]:
    services = ApiStack(tmp_path, broker, influxdb, f"test_{uuid.uuid4().hex[:12]}")
    yield services
    services.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for process in services.processes:
            print(f"----- {process.name} ({process.log}) -----\n{process.output()[-6000:]}")


#: When the alert event the test publishes started: long before any the ingest raises.
EVENT_STARTED = datetime(2020, 1, 6, 10, 0, tzinfo=UTC)


def _receipt_naming(ingest: Client, event_id: str | None) -> AlertReceipt | None:
    """The next receipt that names `event_id` (the alerts service also sends `resend`
    ones when it subscribes), or None if none came within a second."""
    try:
        message = ingest.messages.get(timeout=1)
    except queue.Empty:
        return None
    receipt = AlertReceipt.model_validate_json(message.payload)
    return receipt if event_id in receipt.ids else None


def _alert_event() -> AlertEvent:
    started = EVENT_STARTED
    return AlertEvent(
        id="e2e-receipt-1",
        key=f"over_max/cold-room-1.air/{started.isoformat()}",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site=SITE,
        asset="cold-room-1",
        sensor="cold-room-1.air",
        started_at=started,
        at=started + timedelta(minutes=15),
        value_c=8.5,
        peak_c=8.5,
        limit_c=6.0,
        delay_s=900,
    )


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _alerts_opened_at(api: AlertsApi, opened_at: datetime) -> list[dict[str, object]]:
    """The alerts service's alerts opened at `opened_at`; [] while it does not answer."""
    when = opened_at.isoformat().replace("+00:00", "Z")
    return [alert for alert in api.alerts() if alert["opened_at"] == when]


def test_our_services_work_over_tls_with_their_accounts(
    secured_stack: ApiStack, broker: SecuredMosquitto, clients: list[Client]
) -> None:
    ticks = 5
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    ingest_service = secured_stack.start_ingest(
        **_tls_settings("COLDCHAIN_INGEST_", broker, "ingest")
    )
    gateway = secured_stack.gateway(
        "cold-room-1", start, ticks, **_tls_settings("COLDCHAIN_GATEWAY_", broker, COLD_ROOM)
    )
    alerts_port = free_port()
    database = f"sqlite:///{secured_stack.directory}/a.sqlite3"
    alerts = service(
        "alerts",
        "coldchain-alerts",
        secured_stack.directory,
        {
            "COLDCHAIN_ALERTS_PORT": str(alerts_port),
            "COLDCHAIN_ALERTS_DATABASE_URL": database,
            "COLDCHAIN_ALERTS_INFLUX_URL": "",
        }
        | _tls_settings("COLDCHAIN_ALERTS_", broker, "alerts"),
    )
    secured_stack.processes.append(alerts)
    api = AlertsApi(f"http://127.0.0.1:{alerts_port}", token_for(database))
    gateway.start()
    alerts.start()

    assert gateway.wait(timeout=30) == 0, "drained: it read its durable marks"
    stored = secured_stack.influxdb.count(
        secured_stack.database,
        "SELECT count(temp_c) FROM temperature WHERE sensor = 'cold-room-1.air'",
    )
    assert stored == ticks

    # The ingest account publishes the alert event; its service must step aside, for
    # a second connection with the same account would close the first.
    ingest_service.stop()
    ingest = connected(clients, broker.tls_port, "ingest", ca_file=broker.authority.certificate)
    ingest.subscribe(topics.ALERT_RECEIPTS)
    event = _alert_event()
    wait_until(lambda: _healthy(alerts_port), 30, "the alerts service to be connected")
    assert allowed(ingest.publish(topics.alerts(SITE), event.model_dump_json().encode()))
    listed = wait_until(lambda: _alerts_opened_at(api, EVENT_STARTED), 10, "the alert in the API")
    assert [alert["sensor"] for alert in listed] == [event.sensor]
    receipt = wait_until(
        lambda: _receipt_naming(ingest, event.id), 10, "the receipt for the event, at ingest"
    )
    assert receipt.ids == [event.id]
