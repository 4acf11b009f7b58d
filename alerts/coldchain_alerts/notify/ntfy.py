"""Push notifications through an ntfy server: POST the short text to `{server}/{topic}`.

The title, priority, click link and tags travel as headers (Title, Priority,
Click, Tags). HTTP headers are ASCII, and our titles have umlauts and dashes:
a header that is not ASCII is sent RFC 2047-encoded (`=?UTF-8?B?...?=`), which
ntfy documents and decodes ("e-mail-style headers"). Publishing the same
fields as JSON to the server's root would avoid the encoding, but it posts
every topic to one URL; the per-topic URL keeps access rules and proxy rules
that name the topic working.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

import httpx

from coldchain_alerts.notify.http import request
from coldchain_alerts.notify.message import Rendered
from coldchain_alerts.notify.notice import Delivery, Notice, Recipient

#: ntfy's priorities: critical rings through do-not-disturb, a warning is ordinary.
PRIORITY = {"critical": "5", "warning": "3"}
#: ntfy shows these tags as emoji before the title.
TAGS = {"critical": "rotating_light", "warning": "warning"}
#: What ntfy accepts as a topic name.
_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")


def header_value(text: str) -> str:
    """`text` as it may stand in an HTTP header: ASCII as is, else RFC 2047 (UTF-8, base64)."""
    flat = " ".join(text.split())
    if flat.isascii():
        return flat
    return f"=?UTF-8?B?{base64.b64encode(flat.encode('utf-8')).decode('ascii')}?="


class NtfyChannel:
    def __init__(
        self, server: str, client: httpx.Client, timeout_s: float, token: str | None = None
    ) -> None:
        self.server = server.rstrip("/")
        self._client = client
        self._timeout_s = timeout_s
        self._token = token

    def send(self, notice: Notice, rendered: Rendered, recipient: Recipient) -> Delivery:
        topic = recipient.ntfy_topic or ""
        if not _TOPIC.fullmatch(topic):
            return Delivery(
                "ntfy",
                topic,
                ok=False,
                error=f"{topic!r} is not an ntfy topic (letters, digits, - and _, at most 64); "
                "correct the contact's topic",
            )
        critical = any(alert.severity == "critical" for alert in notice.alerts)
        severity = "critical" if critical else "warning"
        headers = {
            "Title": header_value(rendered.subject),
            "Priority": PRIORITY[severity],
            "Tags": f"{TAGS[severity]},{notice.site}",
            "Content-Type": "text/plain; charset=utf-8",
        }
        if notice.alerts:
            headers["Click"] = header_value(notice.alerts[0].link)
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        error = request(
            self._client,
            "ntfy server",
            "POST",
            f"{self.server}/{quote(topic, safe='')}",
            self._timeout_s,
            content=rendered.short.encode("utf-8"),
            headers=headers,
        )
        return Delivery("ntfy", topic, ok=error is None, error=error)
