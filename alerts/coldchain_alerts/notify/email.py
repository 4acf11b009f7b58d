"""E-mail over SMTP: one plain-text UTF-8 message per recipient.

STARTTLS (port 587), implicit TLS (port 465) or plain (a relay on the same
host), with an optional login. A new connection per message: notices are
rare. The TLS context is built once (reading the CA bundle takes longer than
the whole SMTP session) and shared by the threads that send; plain SMTP builds
none.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Literal

from coldchain_alerts.notify.message import Rendered
from coldchain_alerts.notify.notice import Delivery, Notice, Recipient

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand messages over."""

    host: str
    port: int
    sender: str
    """The From address, `alerts@example.org` or `Kühlkette <alerts@example.org>`."""
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None


class EmailChannel:
    def __init__(self, server: SmtpServer, timeout_s: float) -> None:
        self.server = server
        self._timeout_s = timeout_s
        self._context: ssl.SSLContext | None = None
        self._context_lock = threading.Lock()

    def send(self, notice: Notice, rendered: Rendered, recipient: Recipient) -> Delivery:
        address = recipient.email or ""
        try:
            message = self.message(notice, rendered, recipient)
        except (ValueError, MessageError) as exc:
            return Delivery(
                "email",
                address,
                ok=False,
                error=f"cannot write an e-mail to {address!r} ({exc}); "
                "correct the contact's e-mail address or COLDCHAIN_ALERTS_SMTP_FROM",
            )
        error = self._hand_over(message, address)
        return Delivery("email", address, ok=error is None, error=error)

    def message(self, notice: Notice, rendered: Rendered, recipient: Recipient) -> EmailMessage:
        """The message: headers, UTF-8 plain text. Raises ValueError for a bad address."""
        message = EmailMessage()
        message["From"] = self.server.sender
        message["To"] = Address(display_name=recipient.name, addr_spec=recipient.email or "")
        message["Subject"] = rendered.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid("coldchain", domain=_domain(message["From"]))
        # RFC 3834: no out-of-office replies to a machine.
        message["Auto-Submitted"] = "auto-generated"
        if any(alert.severity == "critical" for alert in notice.alerts):
            message["Importance"] = "high"
        message.set_content(rendered.body, charset="utf-8")
        return message

    def _hand_over(self, message: EmailMessage, address: str) -> str | None:
        server = self.server
        where = f"SMTP server {server.host}:{server.port}"
        context = None
        if server.security != "none":
            try:
                context = self._tls_context()
            except OSError as exc:
                return f"cannot read the CA file ({exc}); check COLDCHAIN_ALERTS_SMTP_CA_FILE"
        try:
            smtp: smtplib.SMTP
            if server.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=self._timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=self._timeout_s)
            with smtp:
                if server.security == "starttls":
                    smtp.starttls(context=context)
                if server.username:
                    smtp.login(server.username, server.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(address, next(iter(exc.recipients.values())))
            return (
                f"{where} refused the recipient {address} ({code} {_text(text)}); "
                "check the contact's e-mail address"
            )
        except smtplib.SMTPSenderRefused as exc:
            return (
                f"{where} refused the sender {exc.sender!r} ({exc.smtp_code} "
                f"{_text(exc.smtp_error)}); check COLDCHAIN_ALERTS_SMTP_FROM and that the "
                "account may send as it"
            )
        except smtplib.SMTPAuthenticationError as exc:
            return (
                f"{where} refused the login of {server.username!r} ({exc.smtp_code} "
                f"{_text(exc.smtp_error)}); check COLDCHAIN_ALERTS_SMTP_USERNAME and "
                "COLDCHAIN_ALERTS_SMTP_PASSWORD"
            )
        except smtplib.SMTPNotSupportedError as exc:
            return f"{where} {_unsupported(str(exc))}"
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):
                return self._timed_out(where)
            return (
                f"{where} closed the connection ({exc}); check COLDCHAIN_ALERTS_SMTP_SECURITY "
                "and COLDCHAIN_ALERTS_SMTP_PORT: tls is usually port 465, starttls 587"
            )
        except smtplib.SMTPResponseException as exc:
            return f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}; check its logs"
        except smtplib.SMTPException as exc:
            return f"{where} failed: {exc}; check its logs"
        except TimeoutError:
            return self._timed_out(where)
        except ssl.SSLError as exc:
            return (
                f"TLS with {where} failed ({exc}); check COLDCHAIN_ALERTS_SMTP_SECURITY, "
                "COLDCHAIN_ALERTS_SMTP_PORT and COLDCHAIN_ALERTS_SMTP_CA_FILE"
            )
        except socket.gaierror as exc:
            return f"cannot find {where} ({exc}); check COLDCHAIN_ALERTS_SMTP_HOST"
        except OSError as exc:
            return (
                f"cannot connect to {where} ({exc}); check COLDCHAIN_ALERTS_SMTP_HOST, "
                "COLDCHAIN_ALERTS_SMTP_PORT and that the server runs"
            )
        return None

    def _tls_context(self) -> ssl.SSLContext:
        """The context every TLS session uses; raises OSError for an unreadable CA file.

        A failure is not kept: a CA file put right is read at the next message.
        """
        with self._context_lock:
            if self._context is None:
                self._context = ssl.create_default_context(cafile=self.server.ca_file)
            return self._context

    def _timed_out(self, where: str) -> str:
        return (
            f"{where} did not answer within {self._timeout_s:g} s; check host, port and "
            "firewall, or raise COLDCHAIN_ALERTS_NOTIFY_TIMEOUT_S"
        )


def _unsupported(reason: str) -> str:
    if "STARTTLS" in reason:
        return (
            "does not offer STARTTLS; set COLDCHAIN_ALERTS_SMTP_SECURITY to tls (usually "
            "port 465) or, on a trusted network only, none"
        )
    if "AUTH" in reason:
        return (
            "offers no login here (AUTH); unset COLDCHAIN_ALERTS_SMTP_USERNAME, or use "
            "COLDCHAIN_ALERTS_SMTP_SECURITY starttls or tls if it offers a login only over TLS"
        )
    return f"does not support what the message needs ({reason}); check the server's settings"


def _domain(sender: str) -> str:
    """The domain of the From address, for Message-IDs; `localhost` when it has none."""
    _, _, domain = sender.rstrip(">").rpartition("@")
    return domain or "localhost"


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())
