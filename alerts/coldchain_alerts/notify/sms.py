"""SMS through an HTTP SMS gateway, described by a request template.

Gateways differ in everything but the idea: one HTTP request per message with the
number and the text somewhere in it. The template names the method, URL, extra
headers and a body in which `{to}` (the number, E.164 as `+4917...`), `{text}`
(the short text) and `{token}` (the secret `sms_token`) are replaced:

- `form`: `to={to}&text={text}&from=Coldchain` is split into fields first and
  the values are filled in afterwards, each URL-encoded, so a text with `&` or
  `=` stays inside its field. With GET the fields go into the URL's query.
- `json`: `{"to": "{to}", "text": "{text}"}` is parsed as JSON first and the
  placeholders are filled into its strings, which are then JSON-encoded, so
  quotes or newlines in the text never end a string.

Authentication: `sms_username` with `sms_password` (HTTP Basic), or `sms_token`:
as `{token}` wherever the template names it (a header like `X-API-Key`, a body
field), else as `Authorization: Bearer`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import httpx

from coldchain_alerts.notify.http import request
from coldchain_alerts.notify.message import Rendered
from coldchain_alerts.notify.notice import Delivery, Notice, Recipient

Method = Literal["POST", "PUT", "GET"]
ContentType = Literal["form", "json"]

#: The body when `sms_body` is not set, per content type.
DEFAULT_BODIES: dict[ContentType, str] = {
    "form": "to={to}&text={text}",
    "json": '{"to": "{to}", "text": "{text}"}',
}
_PLACEHOLDER = re.compile(r"\{(to|text|token)\}")
#: E.164: a plus, a country code not starting with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: Separators people write in phone numbers, dropped before checking.
_PHONE_SEPARATORS = re.compile(r"[\s\-/().]")


def phone_number(raw: str) -> str | None:
    """`+49 171 234-5678` as `+491712345678`; None unless international (E.164) format."""
    number = _PHONE_SEPARATORS.sub("", raw)
    if number.startswith("00"):
        number = "+" + number[2:]
    return number if _E164.fullmatch(number) else None


@dataclass(frozen=True)
class SmsTemplate:
    """How one request to the gateway looks; `render` fills in one message."""

    url: str
    method: Method = "POST"
    content_type: ContentType = "form"
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str | None = None
    token: str | None = None

    @staticmethod
    def check(
        method: Method,
        content_type: ContentType,
        body: str | None,
        headers: Mapping[str, str] | None = None,
        username: str | None = None,
        token: str | None = None,
    ) -> None:
        """Raise ValueError, naming the setting, if the template cannot work."""
        text = body if body is not None else DEFAULT_BODIES[content_type]
        if method == "GET" and content_type == "json":
            raise ValueError("sms_method GET sends no body: use sms_content_type form with GET")
        if content_type == "form":
            _form_fields(text)
        else:
            _json_template(text)
        named = set(_PLACEHOLDER.findall(text))
        missing = {"to", "text"} - named
        if missing:
            names = " and ".join(f"{{{name}}}" for name in sorted(missing))
            raise ValueError(f"sms_body must contain {names}: {text!r}")
        in_headers = any("{token}" in value for value in (headers or {}).values())
        if ("token" in named or in_headers) and not token:
            raise ValueError("sms_token: the SMS template uses {token}; set the token")
        if username and token and "token" not in named and not in_headers:
            raise ValueError(
                "sms_username and sms_token both ask for the Authorization header: "
                "use one, or name {token} in sms_body or sms_headers"
            )

    def render(self, to: str, text: str) -> tuple[str, dict[str, Any]]:
        """The URL and the other keyword arguments of httpx.Client.request for one message."""
        template = self.body if self.body is not None else DEFAULT_BODIES[self.content_type]
        values = {"to": to, "text": text, "token": self.token or ""}
        uses_token = "{token}" in template
        headers = {}
        for name, value in self.headers.items():
            uses_token = uses_token or "{token}" in value
            headers[name] = value.replace("{token}", self.token or "")
        arguments: dict[str, Any] = {}
        url = self.url
        if self.username:
            arguments["auth"] = httpx.BasicAuth(self.username, self.password or "")
        elif self.token and not uses_token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if self.content_type == "form":
            filled = [(name, _fill(value, values)) for name, value in _form_fields(template)]
            if self.method == "GET":
                separator = "&" if "?" in self.url else "?"
                url = f"{self.url}{separator}{urlencode(filled)}"
            else:
                arguments["content"] = urlencode(filled).encode("ascii")
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            document = _fill_json(_json_template(template), values)
            arguments["content"] = json.dumps(document, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        arguments["headers"] = headers
        return url, arguments


class SmsChannel:
    """Sends a notice's short text to a recipient's phone through the gateway."""

    def __init__(self, template: SmsTemplate, client: httpx.Client, timeout_s: float) -> None:
        self.template = template
        self._client = client
        self._timeout_s = timeout_s

    def send(self, notice: Notice, rendered: Rendered, recipient: Recipient) -> Delivery:
        address = recipient.phone or ""
        number = phone_number(address)
        if number is None:
            return Delivery(
                "sms",
                address,
                ok=False,
                error=f"{address!r} is not a phone number in international format "
                "(+49 171 2345678); correct the contact's phone number",
            )
        url, arguments = self.template.render(number, rendered.short)
        error = request(
            self._client, "SMS gateway", self.template.method, url, self._timeout_s, **arguments
        )
        return Delivery("sms", address, ok=error is None, error=error)


def _fill(template: str, values: Mapping[str, str]) -> str:
    """Placeholders replaced in one pass: a `{to}` inside the text stays text."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _form_fields(template: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(template, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise ValueError(
            f"sms_body is not form fields like to={{to}}&text={{text}}: {template!r} ({exc})"
        ) from exc


def _json_template(template: str) -> Any:
    try:
        document = json.loads(template)
    except json.JSONDecodeError as exc:
        raise ValueError(f"sms_body is not JSON: {template!r} ({exc})") from exc
    if not isinstance(document, dict | list):
        raise ValueError(f"sms_body must be a JSON object or array: {template!r}")
    return document


def _fill_json(document: Any, values: Mapping[str, str]) -> Any:
    if isinstance(document, str):
        return _fill(document, values)
    if isinstance(document, list):
        return [_fill_json(item, values) for item in document]
    if isinstance(document, dict):
        return {key: _fill_json(value, values) for key, value in document.items()}
    return document
