"""Each notification channel against a real server on loopback.

E-mail goes to a real SMTP server (aiosmtpd: plain, STARTTLS, implicit TLS,
login); webhook, ntfy and SMS go to a recording HTTP server. Channels are built
from settings by `Notifier.from_settings`, as the service builds them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from coldchain_alerts.notify import AlertLine, Delivery, Notice, Notifier, Reason, Recipient, render
from coldchain_alerts.notify.message import Rendered
from coldchain_alerts.settings import AlertsSettings
from coldchain_devstack.servers import CertificateAuthority, certificate_authority, free_port
from tests.fakes import RecordingHttpServer, SmtpSink, server_tls_context

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SCHEMA = ROOT / "docs" / "alerts-webhook.v1.schema.json"
NOW = datetime(2026, 11, 24, 2, 57, tzinfo=UTC)
LINK = "https://alerts.example.org/alerts/17"
SENDER = "Kühlkette Dortmund <alerts@coldchain.test>"
#: Short enough for the timeout tests to be quick, long enough for loopback.
SHORT_TIMEOUT_S = 0.5
HOSTILE = "Kühlraum \"A\" & B=1\nneu; text={to} %26 +'ß'"


def too_warm(alert_id: int = 17, severity: str = "critical") -> AlertLine:
    return AlertLine(
        alert_id=alert_id,
        site="dortmund-hub",
        asset="van-2-chilled",
        sensor="van-2.chilled",
        gateway=None,
        rule="over_max" if severity == "critical" else "over_warning",
        severity=severity,  # type: ignore[arg-type]
        active=True,
        since=datetime(2026, 11, 24, 2, 12, tzinfo=UTC),
        cleared_at=None,
        value_c=8.46,
        limit_c=6.0,
        link=f"https://alerts.example.org/alerts/{alert_id}",
        asset_names={"de": "Transporter 2, Kühlfach", "en": "Van 2, chilled compartment"},
        value_at=datetime(2026, 11, 24, 2, 56, tzinfo=UTC),
        peak_c=8.71,
        duration_s=44 * 60,
    )


def notice(*alerts: AlertLine, reason: Reason = Reason.NEW) -> Notice:
    return Notice("dortmund-hub", 1, reason, alerts or (too_warm(),), NOW)


def notifier(**settings: Any) -> Notifier:
    return Notifier.from_settings(AlertsSettings(_env_file=None, **settings))


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return certificate_authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def http() -> Iterator[RecordingHttpServer]:
    with RecordingHttpServer() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink(refuse={"nobody@coldchain.test"}) as sink:
        yield sink


def plain_smtp(sink: SmtpSink, **settings: Any) -> Notifier:
    return notifier(
        smtp_host=sink.host, smtp_port=sink.port, smtp_security="none", smtp_from=SENDER, **settings
    )


# --- e-mail ------------------------------------------------------------------------


def test_german_and_english_mail_arrive(smtp: SmtpSink) -> None:
    jörg = Recipient("Jörg Müller", "de", email="joerg@coldchain.test")
    jane = Recipient("Jane Doe", "en", email="jane@coldchain.test")
    with plain_smtp(smtp) as sender:
        assert [d.ok for d in sender.send(notice(), jörg)] == [True]
        assert [d.ok for d in sender.send(notice(), jane)] == [True]
    german, english = smtp.wait_for(2)

    assert german["Subject"] == "Kritisch: Transporter 2, Kühlfach – zu warm (8,5 °C)"
    assert german["To"].addresses[0].display_name == "Jörg Müller"
    assert german["To"].addresses[0].addr_spec == "joerg@coldchain.test"
    assert german["From"].addresses[0].display_name == "Kühlkette Dortmund"
    assert german["Message-ID"].endswith("@coldchain.test>")
    assert german["Auto-Submitted"] == "auto-generated"
    assert german.get_content_type() == "text/plain"
    assert german.get_content_charset() == "utf-8"
    assert abs((parsedate_to_datetime(german["Date"]) - datetime.now(UTC)).total_seconds()) < 60
    body = german.get_content()
    assert body == render(notice(), "de").body
    assert (
        "Messwert 8,5 °C um 03:56, Spitzenwert 8,7 °C, Grenze 6,0 °C\n"
        "Seit 03:12 (44 min), besteht noch\n"
    ) in body
    assert LINK in body

    assert english["Subject"] == "Critical: Van 2, chilled compartment – too warm (8.5 °C)"
    assert (
        "Reading 8.5 °C at 03:56, peak 8.7 °C, limit 6.0 °C\nSince 03:12 (44 min), still active\n"
    ) in english.get_content()
    assert LINK in english.get_content()
    assert [mail.rcpt_tos for mail in smtp.mails] == [
        ["joerg@coldchain.test"],
        ["jane@coldchain.test"],
    ]
    assert smtp.mails[0].mail_from == "alerts@coldchain.test"


def test_starttls_with_login(authority: CertificateAuthority) -> None:
    context = server_tls_context(str(authority.server_certificate), str(authority.server_key))
    with SmtpSink(starttls=context, users={"coldchain": "s3cret"}) as sink:
        sender = notifier(
            smtp_host="localhost",
            smtp_port=sink.port,
            smtp_security="starttls",
            smtp_ca_file=authority.certificate,
            smtp_username="coldchain",
            smtp_password="s3cret",
            smtp_from=SENDER,
        )
        with sender:
            (delivery,) = sender.send(notice(), Recipient("Jane", "en", email="jane@x.test"))
        assert delivery.ok, delivery.error
        sink.wait_for(1)
        assert (sink.mails[0].login, sink.mails[0].tls) == ("coldchain", True)


def test_implicit_tls(authority: CertificateAuthority) -> None:
    context = server_tls_context(str(authority.server_certificate), str(authority.server_key))
    with SmtpSink(implicit_tls=context) as sink:
        sender = notifier(
            smtp_host="localhost",
            smtp_port=sink.port,
            smtp_security="tls",
            smtp_ca_file=authority.certificate,
            smtp_from=SENDER,
        )
        with sender:
            (delivery,) = sender.send(notice(), Recipient("Jane", "en", email="jane@x.test"))
        assert delivery.ok, delivery.error
        assert sink.wait_for(1)[0]["To"].addresses[0].addr_spec == "jane@x.test"


def test_a_server_certificate_we_cannot_check_fails(authority: CertificateAuthority) -> None:
    context = server_tls_context(str(authority.server_certificate), str(authority.server_key))
    with SmtpSink(implicit_tls=context) as sink:
        sender = notifier(
            smtp_host="localhost", smtp_port=sink.port, smtp_security="tls", smtp_from=SENDER
        )
        with sender:
            (delivery,) = sender.send(notice(), Recipient("Jane", "en", email="jane@x.test"))
    assert not delivery.ok
    assert "certificate verify failed" in (delivery.error or "")
    assert "COLDCHAIN_ALERTS_SMTP_CA_FILE" in (delivery.error or "")


def test_a_ca_file_put_right_is_read_at_the_next_message(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    context = server_tls_context(str(authority.server_certificate), str(authority.server_key))
    ca_file = tmp_path / "smtp-ca.pem"
    with SmtpSink(implicit_tls=context) as sink:
        sender = notifier(
            smtp_host="localhost",
            smtp_port=sink.port,
            smtp_security="tls",
            smtp_ca_file=ca_file,
            smtp_from=SENDER,
        )
        jane = Recipient("Jane", "en", email="jane@x.test")
        with sender:
            (missing,) = sender.send(notice(), jane)
            ca_file.write_bytes(Path(authority.certificate).read_bytes())
            delivered = [sender.send(notice(), jane)[0] for _ in range(2)]
        assert not missing.ok
        assert "COLDCHAIN_ALERTS_SMTP_CA_FILE" in (missing.error or "")
        assert all(delivery.ok for delivery in delivered), delivered
        assert len(sink.wait_for(2)) == 2


def test_wrong_password_is_reported(authority: CertificateAuthority) -> None:
    context = server_tls_context(str(authority.server_certificate), str(authority.server_key))
    with SmtpSink(starttls=context, users={"coldchain": "s3cret"}) as sink:
        sender = notifier(
            smtp_host="localhost",
            smtp_port=sink.port,
            smtp_ca_file=authority.certificate,
            smtp_username="coldchain",
            smtp_password="wrong",
            smtp_from=SENDER,
        )
        with sender:
            (delivery,) = sender.send(notice(), Recipient("Jane", "en", email="jane@x.test"))
    assert not delivery.ok
    assert "refused the login of 'coldchain' (535" in (delivery.error or "")
    assert "COLDCHAIN_ALERTS_SMTP_PASSWORD" in (delivery.error or "")
    assert "wrong" not in (delivery.error or "")


def test_starttls_that_the_server_does_not_offer(smtp: SmtpSink) -> None:
    sender = notifier(smtp_host=smtp.host, smtp_port=smtp.port, smtp_from=SENDER)
    with sender:
        (delivery,) = sender.send(notice(), Recipient("Jane", "en", email="jane@x.test"))
    assert not delivery.ok
    assert "does not offer STARTTLS" in (delivery.error or "")
    assert smtp.mails == []


def test_a_refused_recipient_is_a_failed_delivery(smtp: SmtpSink) -> None:
    with plain_smtp(smtp) as sender:
        (delivery,) = sender.send(
            notice(), Recipient("Nobody", "de", email="nobody@coldchain.test")
        )
    assert (delivery.channel, delivery.address, delivery.ok) == (
        "email",
        "nobody@coldchain.test",
        False,
    )
    assert delivery.error == (
        f"SMTP server 127.0.0.1:{smtp.port} refused the recipient nobody@coldchain.test "
        "(550 5.1.1 <nobody@coldchain.test>: no such mailbox); check the contact's e-mail address"
    )


def test_an_address_that_is_no_address_is_a_failed_delivery(smtp: SmtpSink) -> None:
    with plain_smtp(smtp) as sender:
        (delivery,) = sender.send(notice(), Recipient("X", "de", email="x@y\nBcc: z@w"))
    assert not delivery.ok
    assert "correct the contact's e-mail address" in (delivery.error or "")
    assert smtp.mails == []


def test_no_smtp_server_is_a_failed_delivery() -> None:
    port = free_port()
    with notifier(smtp_host="127.0.0.1", smtp_port=port, smtp_from=SENDER) as sender:
        (delivery,) = sender.send(notice(), Recipient("Jane", "en", email="jane@x.test"))
    assert not delivery.ok
    assert f"cannot connect to SMTP server 127.0.0.1:{port}" in (delivery.error or "")
    assert "COLDCHAIN_ALERTS_SMTP_HOST" in (delivery.error or "")


def test_a_silent_smtp_server_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never greets
        port = silent.getsockname()[1]
        with notifier(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_from=SENDER,
            notify_timeout_s=SHORT_TIMEOUT_S,
        ) as sender:
            (delivery,) = sender.send(notice(), Recipient("Jane", "en", email="jane@x.test"))
    assert not delivery.ok
    assert f"did not answer within {SHORT_TIMEOUT_S:g} s" in (delivery.error or "")


# --- webhook -----------------------------------------------------------------------


def test_webhook_body_is_valid_against_the_documented_schema(http: RecordingHttpServer) -> None:
    url = f"{http.url}/hooks/T0/B0/secret?room=cold"
    two = notice(too_warm(), too_warm(18, "warning"), reason=Reason.ESCALATION)
    with notifier() as sender:
        (delivery,) = sender.send(two, Recipient("Jörg", "de", webhook_url=url))
    assert delivery.ok, delivery.error
    assert (delivery.channel, delivery.address) == ("webhook", url)
    (request,) = http.wait_for(1)
    assert (request.method, request.path) == ("POST", "/hooks/T0/B0/secret?room=cold")
    assert request.headers["content-type"] == "application/json"
    document = request.json()
    schema = json.loads(WEBHOOK_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
    rendered = render(two, "de")
    assert document["title"] == rendered.subject
    assert document["text"] == rendered.short
    assert document["body"] == rendered.body
    assert (document["v"], document["reason"], document["language"]) == (1, "escalation", "de")
    assert [alert["id"] for alert in document["alerts"]] == [17, 18]
    assert document["alerts"][0]["asset_name"] == "Transporter 2, Kühlfach"
    assert document["alerts"][1]["rule_text"] == "wird zu warm (Warnstufe)"


def test_webhook_answering_500_is_a_failed_delivery(http: RecordingHttpServer) -> None:
    http.answer(500, b"database is down")
    url = f"{http.url}/hooks/secret-path"
    with notifier() as sender:
        (delivery,) = sender.send(notice(), Recipient("Jane", "en", webhook_url=url))
    assert not delivery.ok
    assert delivery.error == (
        f"webhook at http://127.0.0.1:{http.port} answered 500 Internal Server Error: "
        "'database is down'; the server has a problem; check its logs"
    )
    assert "secret-path" not in (delivery.error or "")


def test_webhook_that_never_answers_times_out(http: RecordingHttpServer) -> None:
    http.hang()
    with notifier(notify_timeout_s=SHORT_TIMEOUT_S) as sender:
        (delivery,) = sender.send(notice(), Recipient("Jane", "en", webhook_url=http.url))
    assert not delivery.ok
    assert delivery.error == (
        f"webhook at http://127.0.0.1:{http.port} did not answer within 0.5 s; check that it "
        "runs and is reachable from here, or raise COLDCHAIN_ALERTS_NOTIFY_TIMEOUT_S"
    )
    assert len(http.requests) == 1


def test_webhook_refusing_connections_is_a_failed_delivery() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with notifier() as sender:
        (delivery,) = sender.send(notice(), Recipient("Jane", "en", webhook_url=url))
    assert not delivery.ok
    assert (delivery.error or "").startswith("cannot connect to webhook at http://127.0.0.1:")
    assert "check the URL and that the server runs" in (delivery.error or "")


def test_webhook_url_that_is_no_url_is_a_failed_delivery() -> None:
    with notifier() as sender:
        (delivery,) = sender.send(notice(), Recipient("Jane", "en", webhook_url="hooks.example"))
    assert not delivery.ok
    assert "is not an http:// or https:// URL" in (delivery.error or "")


# --- ntfy --------------------------------------------------------------------------


def test_ntfy_headers(http: RecordingHttpServer) -> None:
    with notifier(ntfy_url=f"{http.url}/", ntfy_token="tk_test") as sender:
        (critical,) = sender.send(notice(), Recipient("Jörg", "de", ntfy_topic="cold-dortmund_3"))
        warning = notice(too_warm(18, "warning"))
        (ordinary,) = sender.send(warning, Recipient("Jane", "en", ntfy_topic="cold-dortmund_3"))
    assert critical.ok and ordinary.ok, (critical.error, ordinary.error)
    first, second = http.wait_for(2)

    assert (first.method, first.path) == ("POST", "/cold-dortmund_3")
    rendered = render(notice(), "de")
    assert first.headers["title"].startswith("=?UTF-8?B?")
    assert str(make_header(decode_header(first.headers["title"]))) == rendered.subject
    assert first.headers["priority"] == "5"
    assert first.headers["click"] == LINK
    assert first.headers["tags"] == "rotating_light,dortmund-hub"
    assert first.headers["authorization"] == "Bearer tk_test"
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert first.body.decode("utf-8") == rendered.short

    assert second.headers["priority"] == "3"
    assert second.headers["tags"] == "warning,dortmund-hub"
    title = str(make_header(decode_header(second.headers["title"])))
    assert (
        title == "Warning: Van 2, chilled compartment – getting too warm (warning level) (8.5 °C)"
    )
    assert second.headers["click"] == "https://alerts.example.org/alerts/18"


def test_ntfy_topic_that_is_no_topic_sends_nothing(http: RecordingHttpServer) -> None:
    with notifier(ntfy_url=http.url) as sender:
        (delivery,) = sender.send(notice(), Recipient("Jane", "en", ntfy_topic="../admin"))
    assert not delivery.ok
    assert "'../admin' is not an ntfy topic" in (delivery.error or "")
    assert http.requests == []


def test_ntfy_refusing_the_token_is_a_failed_delivery(http: RecordingHttpServer) -> None:
    http.answer(403, b'{"code":40301,"error":"forbidden"}', "application/json")
    with notifier(ntfy_url=http.url, ntfy_token="tk_wrong") as sender:
        (delivery,) = sender.send(notice(), Recipient("Jane", "en", ntfy_topic="cold"))
    assert not delivery.ok
    assert "answered 403 Forbidden" in (delivery.error or "")
    assert "check the credentials" in (delivery.error or "")
    assert "tk_wrong" not in (delivery.error or "")


# --- SMS ---------------------------------------------------------------------------


def hostile_sms(sender: Notifier, phone: str = "+49 171 2345678") -> Delivery:
    """Send a short text full of characters that break naive templates."""
    assert sender.sms is not None
    rendered = Rendered(subject="s", short=HOSTILE, body="b")
    return sender.sms.send(notice(), rendered, Recipient("Jörg", "de", phone=phone))


def test_sms_form_post_with_basic_auth(http: RecordingHttpServer) -> None:
    sender = notifier(
        sms_url=f"{http.url}/api/send",
        sms_body="to={to}&message={text}&sender=Kuehlkette",
        sms_username="coldchain",
        sms_password="s3cret",
    )
    with sender:
        delivery = hostile_sms(sender)
    assert delivery.ok, delivery.error
    assert (delivery.channel, delivery.address) == ("sms", "+49 171 2345678")
    (request,) = http.wait_for(1)
    assert (request.method, request.path) == ("POST", "/api/send")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == "Basic Y29sZGNoYWluOnMzY3JldA=="
    assert request.form() == [
        ("to", "+491712345678"),
        ("message", HOSTILE),
        ("sender", "Kuehlkette"),
    ]


def test_sms_json_with_bearer_token(http: RecordingHttpServer) -> None:
    sender = notifier(
        sms_url=f"{http.url}/v1/messages",
        sms_content_type="json",
        sms_body='{"messages": [{"recipient": "{to}", "body": "{text}"}], "from": "Coldchain"}',
        sms_token="tok-123",
    )
    with sender:
        delivery = hostile_sms(sender)
    assert delivery.ok, delivery.error
    (request,) = http.wait_for(1)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer tok-123"
    assert request.json() == {
        "messages": [{"recipient": "+491712345678", "body": HOSTILE}],
        "from": "Coldchain",
    }


def test_sms_get_with_key_in_a_header(http: RecordingHttpServer) -> None:
    sender = notifier(
        sms_url=f"{http.url}/send?format=json",
        sms_method="GET",
        sms_headers={"X-API-Key": "{token}"},
        sms_token="key-9",
    )
    with sender:
        delivery = hostile_sms(sender)
    assert delivery.ok, delivery.error
    (request,) = http.wait_for(1)
    assert request.method == "GET"
    assert request.body == b""
    assert request.query() == [("format", "json"), ("to", "+491712345678"), ("text", HOSTILE)]
    assert request.headers["x-api-key"] == "key-9"
    assert "authorization" not in request.headers


def test_sms_of_a_notice_is_its_short_text(http: RecordingHttpServer) -> None:
    with notifier(sms_url=http.url) as sender:
        (delivery,) = sender.send(notice(), Recipient("Jörg", "de", phone="+491712345678"))
    assert delivery.ok, delivery.error
    (request,) = http.wait_for(1)
    assert dict(request.form())["text"] == render(notice(), "de").short


def test_sms_to_a_number_that_is_not_international_sends_nothing(
    http: RecordingHttpServer,
) -> None:
    with notifier(sms_url=http.url) as sender:
        delivery = hostile_sms(sender, phone="0171 2345678")
    assert not delivery.ok
    assert "'0171 2345678' is not a phone number in international format" in (delivery.error or "")
    assert http.requests == []


def test_sms_gateway_failures(http: RecordingHttpServer) -> None:
    http.answer(401, b"bad key")
    with notifier(sms_url=http.url, sms_token="nope") as sender:
        refused = hostile_sms(sender)
    assert not refused.ok
    assert "SMS gateway at http://127.0.0.1" in (refused.error or "")
    assert "answered 401 Unauthorized: 'bad key'; check the credentials" in (refused.error or "")

    with notifier(sms_url=f"http://127.0.0.1:{free_port()}") as sender:
        unreachable = hostile_sms(sender)
    assert not unreachable.ok
    assert "cannot connect to SMS gateway" in (unreachable.error or "")


# --- the notifier ------------------------------------------------------------------


def test_every_address_gets_a_delivery(smtp: SmtpSink, http: RecordingHttpServer) -> None:
    everything = Recipient(
        "Jörg",
        "de",
        email="joerg@coldchain.test",
        phone="+491712345678",
        ntfy_topic="cold",
        webhook_url=f"{http.url}/hook",
    )
    with plain_smtp(smtp, ntfy_url=http.url, sms_url=f"{http.url}/sms") as sender:
        deliveries = sender.send(notice(), everything)
    assert [(d.channel, d.ok) for d in deliveries] == [
        ("email", True),
        ("webhook", True),
        ("ntfy", True),
        ("sms", True),
    ]
    smtp.wait_for(1)
    assert sorted(r.path for r in http.wait_for(3)) == ["/cold", "/hook", "/sms"]


def test_an_address_for_a_channel_that_is_off_is_a_failed_delivery() -> None:
    with notifier() as sender:
        deliveries = sender.send(
            notice(), Recipient("Jörg", "de", email="j@x.test", phone="+491712345678")
        )
    assert [(d.channel, d.address, d.ok) for d in deliveries] == [
        ("email", "j@x.test", False),
        ("sms", "+491712345678", False),
    ]
    assert deliveries[1].error == (
        "sms is not configured on this service: set COLDCHAIN_ALERTS_SMS_URL "
        "(docs/configuration.md), or remove the address from the contact"
    )
    assert "COLDCHAIN_ALERTS_SMTP_HOST" in (deliveries[0].error or "")
    assert sender.send(notice(), Recipient("Nobody", "en")) == []


def test_one_notifier_serves_many_threads(smtp: SmtpSink, http: RecordingHttpServer) -> None:
    with plain_smtp(smtp, ntfy_url=http.url) as sender:

        def tell(n: int) -> list[bool]:
            recipient = Recipient(f"R{n}", "en", email=f"r{n}@x.test", ntfy_topic=f"t{n}")
            return [d.ok for d in sender.send(notice(too_warm(n)), recipient)]

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(tell, range(12)))
    assert results == [[True, True]] * 12
    assert len(smtp.wait_for(12)) == 12
    assert sorted(r.path for r in http.wait_for(12)) == sorted(f"/t{n}" for n in range(12))
