"""Telling people: notices rendered as text and sent by e-mail, webhook, ntfy and SMS.

The public API of the notification channels. `Notifier.from_settings(settings)`
builds the configured channels; `Notifier.send(notice, recipient)` tells one
recipient over each of its addresses and returns what became of each.
"""

from coldchain_alerts.notify.email import EmailChannel, SmtpServer
from coldchain_alerts.notify.message import SMS_MAX_CHARS, Rendered, render
from coldchain_alerts.notify.notice import AlertLine, Delivery, Notice, Reason, Recipient
from coldchain_alerts.notify.notifier import Notifier
from coldchain_alerts.notify.ntfy import NtfyChannel
from coldchain_alerts.notify.sms import SmsChannel, SmsTemplate
from coldchain_alerts.notify.webhook import WebhookBody, WebhookChannel

__all__ = [
    "SMS_MAX_CHARS",
    "AlertLine",
    "Delivery",
    "EmailChannel",
    "Notice",
    "Notifier",
    "NtfyChannel",
    "Reason",
    "Recipient",
    "Rendered",
    "SmsChannel",
    "SmsTemplate",
    "SmtpServer",
    "WebhookBody",
    "WebhookChannel",
    "render",
]
