"""Tell one recipient about one notice over every channel it has an address for.

Blocking and thread-safe: the escalation worker calls `send` from its own
thread; each call renders the text in the recipient's language and goes
through the channels one after the other, each bounded by the timeout.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal, Protocol

import httpx
from pydantic import SecretStr

from coldchain.compliance import BERLIN
from coldchain_alerts.notify.email import EmailChannel, SmtpServer
from coldchain_alerts.notify.message import Rendered, render
from coldchain_alerts.notify.notice import Delivery, Notice, Recipient
from coldchain_alerts.notify.ntfy import NtfyChannel
from coldchain_alerts.notify.sms import SmsChannel, SmsTemplate
from coldchain_alerts.notify.webhook import WebhookChannel

if TYPE_CHECKING:
    from types import TracebackType

    from coldchain_alerts.settings import AlertsSettings

log = logging.getLogger(__name__)

USER_AGENT = "coldchain-alerts"

ChannelName = Literal["email", "webhook", "ntfy", "sms"]
#: The setting that turns a channel on; the webhook needs none (its URL is the contact's).
_SERVER_SETTING: dict[ChannelName, str] = {
    "email": "SMTP_HOST",
    "webhook": "",
    "ntfy": "NTFY_URL",
    "sms": "SMS_URL",
}


class Channel(Protocol):
    def send(self, notice: Notice, rendered: Rendered, recipient: Recipient) -> Delivery: ...


class Notifier:
    """The configured channels; a channel left None is not configured on this service."""

    def __init__(
        self,
        *,
        email: EmailChannel | None = None,
        ntfy: NtfyChannel | None = None,
        sms: SmsChannel | None = None,
        timeout_s: float = 10.0,
        timezone: str = BERLIN,
    ) -> None:
        self._client = httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=timeout_s)
        self.email = email
        self.webhook = WebhookChannel(self._client, timeout_s)
        self.ntfy = ntfy
        self.sms = sms
        self.timezone = timezone

    @classmethod
    def from_settings(cls, settings: AlertsSettings) -> Notifier:
        timeout_s = settings.notify_timeout_s
        notifier = cls(timeout_s=timeout_s)
        if settings.smtp_host is not None and settings.smtp_from is not None:
            server = SmtpServer(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=_secret(settings.smtp_password),
                ca_file=settings.smtp_ca_file,
            )
            notifier.email = EmailChannel(server, timeout_s)
        if settings.ntfy_url is not None:
            token = _secret(settings.ntfy_token)
            notifier.ntfy = NtfyChannel(settings.ntfy_url, notifier._client, timeout_s, token)
        if settings.sms_url is not None:
            template = SmsTemplate(
                url=settings.sms_url,
                method=settings.sms_method,
                content_type=settings.sms_content_type,
                body=settings.sms_body,
                headers=settings.sms_headers,
                username=settings.sms_username,
                password=_secret(settings.sms_password),
                token=_secret(settings.sms_token),
            )
            notifier.sms = SmsChannel(template, notifier._client, timeout_s)
        return notifier

    def send(self, notice: Notice, recipient: Recipient) -> list[Delivery]:
        """One Delivery per address the recipient has: e-mail, webhook, ntfy, SMS.

        Never raises for a server or an address: a failure is a Delivery with ok
        False and an error text, also for an address whose channel is not configured.
        A recipient without any address gets no Delivery.
        """
        rendered = render(notice, recipient.language, self.timezone)
        wanted: list[tuple[ChannelName, str | None, Channel | None]] = [
            ("email", recipient.email, self.email),
            ("webhook", recipient.webhook_url, self.webhook),
            ("ntfy", recipient.ntfy_topic, self.ntfy),
            ("sms", recipient.phone, self.sms),
        ]
        deliveries = []
        for name, address, channel in wanted:
            if not address:
                continue
            if channel is None:
                delivery = _unconfigured(name, address)
            else:
                delivery = channel.send(notice, rendered, recipient)
            if not delivery.ok:
                log.warning(
                    "%s to %s for %s failed: %s",
                    delivery.channel,
                    recipient.name,
                    notice.site,
                    delivery.error,
                )
            deliveries.append(delivery)
        return deliveries

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _unconfigured(channel: ChannelName, address: str) -> Delivery:
    setting = _SERVER_SETTING[channel]
    return Delivery(
        channel,
        address,
        ok=False,
        error=f"{channel} is not configured on this service: set COLDCHAIN_ALERTS_{setting} "
        "(docs/configuration.md), or remove the address from the contact",
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
