"""What the e-mails tell the hygiene officer, through ingest, the alerts service and SMTP.

Van 2's chilled compartment warms past the absolute limit; its readings are
published as van 2's gateway would (one a minute, in reading time, half an hour
ago). The shift lead (German) is told at once, the officer on call (English) when
nobody acknowledges, and both are reminded while the compartment keeps warming.
Every e-mail must show the truth as it is when it is sent: the latest reading with
its reading time, the true peak, the duration in reading time, severity first, the
asset's and the site's names. The truth is the list of readings this test sent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coldchain.languages import Language
from coldchain_alerts import people, policies
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.notify.message import celsius, duration
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack
from tests.fakes import SmtpSink
from tests.mqttclient import telemetry_json

SENSOR = "van-2.chilled"
BERLIN = ZoneInfo("Europe/Berlin")
#: Up to the absolute limit (12 °C), which raises at once: the first e-mail.
RISING = [4.0, 4.1, 5.0, 6.5, 8.0, 9.5, 11.0, 12.5]
#: It keeps warming, then dips a little: the current value is not the peak.
WARMING = [14.0, 16.0, 17.5, 17.0]
SHIFT_LEAD = {"name": "Schichtleitung", "language": "de", "email": "schicht@hub.example"}
ON_CALL = {"name": "Hygiene on call", "language": "en", "email": "hygiene@hub.example"}


class Gateway:
    """Van 2's gateway: telemetry at QoS 1, one reading a minute of reading time."""

    def __init__(self, stack: ApiStack, start: datetime) -> None:
        self.start = start
        self.seq = 0
        self.sent: list[tuple[datetime, float]] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self._client.connect("127.0.0.1", stack.mosquitto.port)
        self._client.loop_start()

    def publish(self, values: list[float]) -> None:
        for value in values:
            self.seq += 1
            at = self.start + timedelta(minutes=self.seq - 1)
            payload = telemetry_json("van-2", SENSOR, self.seq, at, value)
            topic = f"coldchain/v1/{SITE}/van-2/telemetry"
            self._client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
            self.sent.append((at, value))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _policy(stack: ApiStack) -> None:
    """The shift lead at level 1, the officer on call 4 s later; reminders every 2 s."""
    migrate(stack.alerts_database)
    engine = make_engine(stack.alerts_database)
    try:
        with make_sessionmaker(engine).begin() as session:
            ids = [
                [people.save_contact(session, "tests", contact | {"active": True}).id]
                for contact in (SHIFT_LEAD, ON_CALL)
            ]
            policies.set_policy(session, "tests", SITE, 4, 2, ids)
    finally:
        engine.dispose()


def _alert(stack: ApiStack) -> dict[str, Any] | None:
    """The sensor's temperature alert. Its readings are an hour old, so the sensor is
    silent since: `no_data` opens a second alert, with e-mails of its own, whenever ingest
    next looks for silent sensors."""
    found = [
        a for a in stack.alerts_api.alerts() if a["sensor"] == SENSOR and a["rule"] != "no_data"
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def _about(mail: EmailMessage, alert: dict[str, Any]) -> bool:
    """Whether the e-mail links to `alert`'s page."""
    return re.search(rf"/alerts/{alert['id']}$", mail.get_content(), re.MULTILINE) is not None


def _showing(stack: ApiStack, at: datetime) -> bool:
    alert = _alert(stack)
    return bool(alert and alert["value_at"] and datetime.fromisoformat(alert["value_at"]) >= at)


def _clock(at: datetime, language: Language) -> str:
    """A reading time as the e-mails write it: with the day when it is not today."""
    local = at.astimezone(BERLIN)
    if local.date() == datetime.now(BERLIN).date():
        return f"{local:%H:%M}"
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    day = f"{local:%d.%m.}" if language == "de" else f"{local.day} {months[local.month - 1]}"
    return f"{day} {local:%H:%M}"


def _truth(
    sent: list[tuple[datetime, float]], opened_at: datetime, language: Language
) -> list[str]:
    """What an e-mail made after these readings must say, in the body's words: the latest
    reading and its time, the highest so far, the duration up to the latest reading."""
    (at, value), peak = sent[-1], max(v for _, v in sent)
    lasted = duration((at - opened_at).total_seconds(), language)
    reading, at_word, peak_word, since = (
        ("Messwert", "um", "Spitzenwert", "Seit")
        if language == "de"
        else ("Reading", "at", "peak", "Since")
    )
    return [
        f"{reading} {celsius(value, language)} {at_word} {_clock(at, language)}",
        f"{peak_word} {celsius(peak, language)}",
        f"{since} {_clock(opened_at, language)} ({lasted})",
    ]


def _says(message: EmailMessage, language: Language, truth: list[str]) -> None:
    body = message.get_content()
    for fact in truth:
        assert fact in body, f"{fact!r} not in the e-mail:\n{body}"
    severity, asset, site = (
        ("Kritisch", "Transporter 2, Kühlfach", "REGIOwez Dortmund")
        if language == "de"
        else ("Critical", "Van 2, chilled compartment", "REGIOwez Dortmund")
    )
    assert f"{severity}: {asset} – " in message["Subject"], message["Subject"]
    assert f"\n{severity}: {asset} – " in body, body
    assert site in body and "dortmund-hub" not in body, body


def test_every_e_mail_shows_the_alert_as_it_is_when_sent(stack: ApiStack, smtp: SmtpSink) -> None:
    _policy(stack)
    stack.start_ingest()
    stack.alerts(
        COLDCHAIN_ALERTS_SMTP_HOST="127.0.0.1",
        COLDCHAIN_ALERTS_SMTP_PORT=str(smtp.port),
        COLDCHAIN_ALERTS_SMTP_SECURITY="none",
        COLDCHAIN_ALERTS_SMTP_FROM="coldchain@hub.example",
        COLDCHAIN_ALERTS_ESCALATION_WINDOW_S="0",
    ).start()
    wait_until(stack.alerts_healthy, 30, "the alerts service")
    gateway = Gateway(
        stack, datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    )
    try:
        gateway.publish(RISING)
        (first,) = smtp.wait_for(1, timeout=30)
        alert = _alert(stack)
        assert alert is not None and alert["rule"] == "over_absolute"
        opened_at = datetime.fromisoformat(alert["opened_at"])
        assert first["To"] == "Schichtleitung <schicht@hub.example>"
        _says(first, "de", _truth(gateway.sent, opened_at, "de"))
        assert first["Subject"].endswith(f"({celsius(RISING[-1], 'de')})")

        gateway.publish(WARMING)
        last_at = gateway.sent[-1][0]
        wait_until(lambda: _showing(stack, last_at), 30, "the alert to show the last reading")
        # A run under way now may have read the alert before and still be sending its
        # notices (one per level); what comes after them was read after.
        told = len(smtp.mails) + 2

        def reminded() -> list[EmailMessage] | None:
            later = [mail for mail in smtp.messages[told:] if _about(mail, alert)]
            reasons = {mail["Subject"].split(" – ")[0] for mail in later}
            return later if {"Erinnerung", "Reminder"} <= reasons else None

        for mail in wait_until(reminded, 40, "reminders in German and English"):
            language: Language = "de" if mail["To"].startswith("Schichtleitung") else "en"
            _says(mail, language, _truth(gateway.sent, opened_at, language))
    finally:
        gateway.close()
