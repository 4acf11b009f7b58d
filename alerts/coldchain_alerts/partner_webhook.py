"""The partner webhook: each stored delivery certificate POSTed to its partner, signed.

The body (`DeliveryEvent`, JSON Schema in docs/partner-webhook.v1.schema.json) holds
the signed certificate. Headers: `Idempotency-Key` (the delivery's id, the same on
every retry) and `Coldchain-Signature: t=<unix seconds>,v1=<hex>`, HMAC-SHA256 with
the partner's webhook secret over `<t>.<body>`; docs/partners.md says how to check it.

The queue is the `partner_delivery` table, so a restart loses nothing. A connection
error, a timeout, 408, 429 and 5xx are retried after a wait that doubles from
`partner_webhook_retry_s` up to `partner_webhook_retry_max_s`, with jitter, until
`partner_webhook_give_up_s` after the certificate came; 2xx ends it; any other answer
(a redirect too: none is followed) is recorded and stops it, with the reason kept.
A partner's answer is read no further than ANSWER_BYTES.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coldchain_alerts import audit
from coldchain_alerts.models import Partner, PartnerDelivery
from coldchain_alerts.notify.http import server_of
from coldchain_alerts.partners import webhook_url_refusal
from coldchain_alerts.settings import AlertsSettings

log = logging.getLogger(__name__)

SCHEMA_ID = "urn:coldchain:partner:delivery-webhook.v1"
EVENT = "delivery.completed"
SIGNATURE_HEADER = "Coldchain-Signature"
#: Most of a partner's answer read (to name it in the reason of a failure).
ANSWER_BYTES = 2048
#: Deliveries sent per run of the job.
BATCH = 50
#: Answers after which the same request may succeed later.
RETRIED = frozenset({408, 429})


class DeliveryEvent(BaseModel):
    """What a partner's webhook receives: one completed delivery's signed certificate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal["urn:coldchain:partner:delivery-webhook.v1"] = Field(
        alias="schema", description="What this body is; a breaking change gets a new one."
    )
    event: Literal["delivery.completed"]
    id: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="The delivery's id: SHA-256 of the certificate's RFC 8785 form; the "
        "same as the Idempotency-Key header and as in GET /partner/v1/deliveries/{id}.",
    )
    partner: str = Field(description="Your partner id.")
    delivery: str | None = Field(description="The delivery (note) number, if the hub gave one.")
    certificate: dict[str, Any] = Field(
        description="The delivery certificate as the hub signed it (Ed25519, "
        "`signature` inside); check it with `coldchain-report verify FILE --key KEYLIST`."
    )


def json_schema() -> dict[str, Any]:
    schema = DeliveryEvent.model_json_schema(mode="serialization", by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["$comment"] = (
        "Generated from coldchain_alerts.partner_webhook.DeliveryEvent (json_schema_text); "
        "do not edit."
    )
    schema["title"] = "coldchain partner webhook: delivery.completed v1"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def body(delivery: PartnerDelivery) -> bytes:
    event = DeliveryEvent(
        schema=SCHEMA_ID,
        event=EVENT,
        id=delivery.sha256,
        partner=delivery.partner_id,
        delivery=delivery.delivery,
        certificate=json.loads(delivery.certificate),
    )
    return json.dumps(
        event.model_dump(mode="json", by_alias=True), ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """The Coldchain-Signature header's value: `t=<timestamp>,v1=<HMAC-SHA256 hex>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def wait_s(attempts: int, first_s: float, max_s: float, rng: Callable[[], float]) -> float:
    """The wait after the `attempts`-th failed attempt: `first_s` doubling per attempt up to
    `max_s`, then between half and all of that (jitter, so that partners coming back
    are not all hit at once)."""
    full: float = min(first_s * 2.0 ** min(attempts - 1, 40), max_s)
    return full * (0.5 + 0.5 * rng())


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool
    """Whether a later attempt may succeed."""
    error: str | None


def attempt(
    client: httpx.Client,
    url: str,
    secret: str,
    key: str,
    payload: bytes,
    now: int,
    timeout_s: float,
) -> Outcome:
    """POST `payload` once; what came of it. Nothing here raises for the network."""
    where = f"the webhook at {server_of(url)}"
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": key,
        SIGNATURE_HEADER: signature(secret, now, payload),
        "User-Agent": "coldchain-alerts",
    }
    try:
        with client.stream(
            "POST", url, content=payload, headers=headers, timeout=timeout_s
        ) as response:
            answer = _head_of(response)
    except httpx.TimeoutException:
        return Outcome(False, True, f"{where} did not answer within {timeout_s:g} s")
    except httpx.TransportError as exc:
        return Outcome(False, True, f"cannot reach {where} ({type(exc).__name__}: {exc})")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
        return Outcome(False, False, f"the webhook URL is not valid ({exc})")
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, False, None)
    said = " ".join(answer.split())[:200]
    error = f"{where} answered {status} {response.reason_phrase}: {said!r}"
    if 300 <= status < 400:
        error += " (redirects are not followed: give the partner's final URL)"
    return Outcome(False, status in RETRIED or status >= 500, error)


def _head_of(response: httpx.Response) -> str:
    """The first ANSWER_BYTES of the answer, as text; the rest is never read."""
    head = b""
    for chunk in response.iter_raw():
        head += chunk
        if len(head) >= ANSWER_BYTES:
            break
    return head[:ANSWER_BYTES].decode("utf-8", errors="replace")


class PartnerWebhooks:
    """Sends what is due, one delivery at a time, recording each attempt."""

    def __init__(
        self,
        settings: AlertsSettings,
        sessions: sessionmaker[Session],
        writes: sessionmaker[Session],
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._writes = writes
        self._clock = clock
        self._rng = random.SystemRandom().random
        # No redirects: a partner's URL is the one its owner gave us, nowhere else.
        self._client = httpx.Client(follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def run(self) -> int:
        """Send every delivery whose attempt is due; returns how many were delivered."""
        delivered = 0
        while True:
            with self._sessions() as session:
                due = list(
                    session.scalars(
                        select(PartnerDelivery.id)
                        .where(
                            PartnerDelivery.webhook_state == "pending",
                            PartnerDelivery.webhook_next_at <= self._clock(),
                        )
                        .order_by(PartnerDelivery.webhook_next_at)
                        .limit(BATCH)
                    )
                )
            if not due:
                return delivered
            delivered += sum(self._send(delivery_id) for delivery_id in due)

    def _send(self, delivery_id: int) -> bool:
        with self._sessions() as session:
            delivery = session.get(PartnerDelivery, delivery_id)
            partner = session.get(Partner, delivery.partner_id) if delivery else None
            if delivery is None or partner is None or delivery.webhook_state != "pending":
                return False
            url, secret = partner.webhook_url or "", partner.webhook_secret or ""
            payload, key = body(delivery), delivery.sha256
        refusal = webhook_url_refusal(url, self._settings.partner_webhook_http_loopback)
        if refusal:
            outcome = Outcome(False, False, refusal)
        else:
            now = int(self._clock().timestamp())
            outcome = attempt(
                self._client,
                url,
                secret,
                key,
                payload,
                now,
                self._settings.partner_webhook_timeout_s,
            )
        self._record(delivery_id, outcome)
        return outcome.delivered

    def _record(self, delivery_id: int, outcome: Outcome) -> None:
        settings, now = self._settings, self._clock()
        with self._writes.begin() as session:
            delivery = session.get(PartnerDelivery, delivery_id)
            # The partner may have been revoked while the request was under way.
            if delivery is None or delivery.webhook_state != "pending":
                return
            delivery.webhook_attempts += 1
            delivery.webhook_error = outcome.error
            if outcome.delivered:
                self._finish(session, delivery, "delivered", now)
                return
            wait = wait_s(
                delivery.webhook_attempts,
                settings.partner_webhook_retry_s,
                settings.partner_webhook_retry_max_s,
                self._rng,
            )
            next_at = now + timedelta(seconds=wait)
            give_up_at = delivery.received_at + timedelta(
                seconds=settings.partner_webhook_give_up_s
            )
            if not outcome.retry or next_at > give_up_at:
                if outcome.retry:
                    delivery.webhook_error = (
                        f"gave up after {delivery.webhook_attempts} attempts; last: {outcome.error}"
                    )
                self._finish(session, delivery, "failed", now)
                log.error(
                    "webhook of delivery %s to partner %s failed: %s",
                    delivery.sha256,
                    delivery.partner_id,
                    delivery.webhook_error,
                )
                return
            delivery.webhook_next_at = next_at
            log.warning(
                "webhook of delivery %s to partner %s: %s; next attempt at %s",
                delivery.sha256,
                delivery.partner_id,
                outcome.error,
                next_at.isoformat(),
            )

    @staticmethod
    def _finish(session: Session, delivery: PartnerDelivery, state: str, now: datetime) -> None:
        delivery.webhook_state = state
        delivery.webhook_next_at = None
        delivery.webhook_done_at = now
        audit.append(
            session,
            actor=audit.SYSTEM,
            action=f"partner.webhook_{state}",
            subject=f"partner:{delivery.partner_id}",
            detail={
                "certificate_sha256": delivery.sha256,
                "attempts": delivery.webhook_attempts,
                "error": delivery.webhook_error,
            },
            at=now,
        )
