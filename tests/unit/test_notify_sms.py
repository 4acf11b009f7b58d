"""The SMS request template: placeholders filled in without changing the request's shape."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from coldchain_alerts.notify.sms import SmsTemplate, phone_number
from coldchain_alerts.settings import AlertsSettings

HOSTILE = "Kühlraum \"A\" & B=1\nneu; {to} {token} %26 +'x' \\ ü"


def test_form_fields_keep_their_shape() -> None:
    template = SmsTemplate(url="http://gw", body="to={to}&message={text}&sender=K%C3%BChl+kette")
    _, request = template.render("+491712345678", HOSTILE)
    fields = parse_qsl(request["content"].decode("ascii"), strict_parsing=True)
    assert fields == [("to", "+491712345678"), ("message", HOSTILE), ("sender", "Kühl kette")]
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_json_strings_keep_their_shape() -> None:
    template = SmsTemplate(
        url="http://gw",
        content_type="json",
        body='{"messages": [{"to": "{to}", "body": "Alarm: {text}"}], "n": 1, "flash": false}',
        token="t0k",
    )
    _, request = template.render("+491712345678", HOSTILE)
    assert json.loads(request["content"]) == {
        "messages": [{"to": "+491712345678", "body": f"Alarm: {HOSTILE}"}],
        "n": 1,
        "flash": False,
    }
    assert request["headers"] == {"Authorization": "Bearer t0k", "Content-Type": "application/json"}


def test_default_bodies() -> None:
    _, form = SmsTemplate(url="http://gw").render("+4930123456", "a&b")
    assert form["content"] == b"to=%2B4930123456&text=a%26b"
    _, as_json = SmsTemplate(url="http://gw", content_type="json").render("+4930123456", 'a"b')
    assert json.loads(as_json["content"]) == {"to": "+4930123456", "text": 'a"b'}


def test_get_sends_the_fields_as_query() -> None:
    url, request = SmsTemplate(url="http://gw/send?v=2", method="GET").render("+4930123456", "a&b")
    assert url == "http://gw/send?v=2&to=%2B4930123456&text=a%26b"
    assert "content" not in request


def test_token_goes_where_the_template_names_it() -> None:
    in_header = SmsTemplate(url="http://gw", headers={"X-API-Key": "{token}"}, token="s3")
    assert in_header.render("+4930123456", "x")[1]["headers"]["X-API-Key"] == "s3"
    assert "Authorization" not in in_header.render("+4930123456", "x")[1]["headers"]
    in_body = SmsTemplate(url="http://gw", body="key={token}&to={to}&text={text}", token="s3")
    _, request = in_body.render("+4930123456", "{token}")
    assert parse_qsl(request["content"].decode()) == [
        ("key", "s3"),
        ("to", "+4930123456"),
        ("text", "{token}"),
    ]
    assert "Authorization" not in request["headers"]


def test_basic_authentication() -> None:
    _, request = SmsTemplate(url="http://gw", username="u", password="p").render("+4930123456", "x")
    authorised = next(request["auth"].auth_flow(httpx.Request("POST", "http://gw")))
    assert authorised.headers["Authorization"] == "Basic dTpw"


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"sms_body": "to={to}"}, "must contain {text}"),
        ({"sms_body": "text={text}"}, "must contain {to}"),
        ({"sms_content_type": "json", "sms_body": "{to} {text}"}, "not JSON"),
        ({"sms_content_type": "json", "sms_body": '"{to} {text}"'}, "object or array"),
        ({"sms_body": "to={to}&&text={text}"}, "not form fields"),
        ({"sms_method": "GET", "sms_content_type": "json"}, "GET sends no body"),
        ({"sms_headers": {"X-Key": "{token}"}}, "set the token"),
        ({"sms_username": "u", "sms_token": "SECRET-TOKEN"}, "use one"),
    ],
)
def test_settings_refuse_a_template_that_cannot_work(
    settings: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValidationError, match="sms_body") as raised:
        AlertsSettings(_env_file=None, sms_url="http://gw", **settings)  # type: ignore[arg-type]
    assert complaint in str(raised.value)
    assert "SECRET-TOKEN" not in str(raised.value)


def test_settings_accept_the_documented_examples() -> None:
    AlertsSettings(
        _env_file=None,
        sms_url="https://sms.example.org/api/send",
        sms_body="to={to}&message={text}&sender=Kuehlkette",
        sms_username="coldchain",
        sms_password="x",  # type: ignore[arg-type]
    )
    AlertsSettings(
        _env_file=None,
        sms_url="https://api.example.com/v1/messages",
        sms_content_type="json",
        sms_body='{"messages": [{"recipient": "{to}", "body": "{text}"}], "from": "Coldchain"}',
        sms_token="x",  # type: ignore[arg-type]
    )
    AlertsSettings(
        _env_file=None,
        sms_url="https://sms.example.org",
        sms_headers={"X-API-Key": "{token}"},
        sms_token="x",  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("+49 171 234-5678", "+491712345678"),
        ("0049 (171) 2345678", "+491712345678"),
        ("+1 212 555 0100", "+12125550100"),
        ("0171 2345678", None),
        ("+49 171 abc", None),
        ("+0 123456789", None),
        ("", None),
    ],
)
def test_phone_numbers(raw: str, number: str | None) -> None:
    assert phone_number(raw) == number


@given(st.text(), st.text())
def test_no_text_changes_the_fields(to: str, text: str) -> None:
    _, form = SmsTemplate(url="http://gw", body="to={to}&text={text}&x=1").render(to, text)
    fields = parse_qsl(form["content"].decode("ascii"), keep_blank_values=True)
    assert fields == [("to", to), ("text", text), ("x", "1")]
    _, as_json = SmsTemplate(url="http://gw", content_type="json").render(to, text)
    assert json.loads(as_json["content"]) == {"to": to, "text": text}
