"""A generic JSON webhook: one POST per notice to the contact's URL.

The body (`WebhookBody`, documented in docs/alerts-webhook.md, JSON Schema in
docs/alerts-webhook.v1.schema.json) carries the rendered text in the contact's
language and the alerts as data. Its top-level `text` is what Slack-style
incoming webhooks and most chat bridges show as they are; anything else can
read the structured fields.

`json_schema_text()` is the committed schema file; tests/unit/test_notify_webhook.py
fails when the two differ and says how to regenerate it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from coldchain.languages import Language
from coldchain.rulenames import rule_name
from coldchain_alerts.notify.http import request
from coldchain_alerts.notify.message import Rendered, lasted_s
from coldchain_alerts.notify.notice import AlertLine, Delivery, Notice, Recipient

WEBHOOK_VERSION = 1
SCHEMA_ID = "urn:coldchain:alerts:webhook.v1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookAlert(_Strict):
    """One alert of the notice. Times UTC (RFC 3339); temperatures °C."""

    id: int = Field(description="The alert's id in the alerts service.")
    site: str
    asset: str | None = Field(description="Asset id, as in the fleet file.")
    asset_name: str | None = Field(description="The asset's name in the notice's language.")
    sensor: str | None
    gateway: str | None
    rule: str = Field(description="The engine's rule, as in docs/rules.md: over_max, no_data, ...")
    rule_text: str = Field(description="The rule in words, in the notice's language.")
    severity: Literal["warning", "critical"]
    active: bool = Field(description="The condition is still present.")
    since: datetime = Field(description="Reading time the condition began.")
    cleared_at: datetime | None = Field(description="When it ended; null while active.")
    value_c: float | None = Field(description="The latest reading the rules reported (°C).")
    value_at: datetime | None = Field(default=None, description="Reading time of value_c.")
    peak_c: float | None = Field(
        default=None,
        description="The most extreme value so far (°C): highest above, lowest below a limit.",
    )
    limit_c: float | None = Field(description="The limit passed (°C).")
    duration_s: float = Field(
        default=0.0,
        ge=0,
        description="How long the condition has lasted (s): to the latest reading while "
        "present, to its clearing after; for a condition no reading updates (a gateway "
        "offline) to created_at.",
    )
    link: str = Field(description="Absolute URL of the alert's page.")


class WebhookBody(_Strict):
    """What a webhook receives: one notice to one contact."""

    v: Literal[1] = Field(description="Version of this body; a breaking change bumps it.")
    kind: Literal["notice"] = Field(description="What the body is; always `notice` in v1.")
    site: str
    site_name: str = Field(default="", description="The site's name, as in the fleet file.")
    level: int = Field(ge=1, description="Escalation level told; 1 is the first.")
    reason: Literal["new", "escalation", "reminder"]
    language: Language = Field(description="Language of title, text and body.")
    created_at: datetime = Field(description="When the notice was made (UTC).")
    title: str = Field(description="One line: e-mail subject, push title.")
    text: str = Field(description="Short text with the first alert's link (as sent by SMS).")
    body: str = Field(description="Full plain text with every alert and its link.")
    alerts: list[WebhookAlert]


def body(notice: Notice, rendered: Rendered, language: Language) -> WebhookBody:
    """The webhook body of a notice rendered in `language`."""
    return WebhookBody(
        v=WEBHOOK_VERSION,
        kind="notice",
        site=notice.site,
        site_name=notice.site_name or notice.site,
        level=notice.level,
        reason=notice.reason.value,
        language=language,
        created_at=notice.now,
        title=rendered.subject,
        text=rendered.short,
        body=rendered.body,
        alerts=[_alert(alert, language, notice.now) for alert in notice.alerts],
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `WebhookBody`."""
    schema = WebhookBody.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["$comment"] = (
        "Generated from coldchain_alerts.notify.webhook.WebhookBody (json_schema_text); "
        "do not edit."
    )
    schema["title"] = f"coldchain alerts webhook body v{WEBHOOK_VERSION}"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class WebhookChannel:
    def __init__(self, client: httpx.Client, timeout_s: float) -> None:
        self._client = client
        self._timeout_s = timeout_s

    def send(self, notice: Notice, rendered: Rendered, recipient: Recipient) -> Delivery:
        url = recipient.webhook_url or ""
        payload = body(notice, rendered, recipient.language).model_dump_json()
        error = request(
            self._client,
            "webhook",
            "POST",
            url,
            self._timeout_s,
            content=payload.encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        return Delivery("webhook", url, ok=error is None, error=error)


def _alert(alert: AlertLine, language: Language, now: datetime) -> WebhookAlert:
    return WebhookAlert(
        id=alert.alert_id,
        site=alert.site,
        asset=alert.asset,
        asset_name=_name(alert, language),
        sensor=alert.sensor,
        gateway=alert.gateway,
        rule=alert.rule,
        rule_text=rule_name(alert.rule, language),
        severity=alert.severity,
        active=alert.active,
        since=alert.since,
        cleared_at=alert.cleared_at,
        value_c=alert.value_c,
        value_at=alert.value_at,
        peak_c=alert.peak_c,
        limit_c=alert.limit_c,
        duration_s=max(lasted_s(alert, now), 0.0),
        link=alert.link,
    )


def _name(alert: AlertLine, language: Language) -> str | None:
    """The asset's name in `language`, else in the other one, else None."""
    if alert.asset is None:
        return None
    names = alert.asset_names
    return names.get(language) or next((name for name in names.values() if name), None)
