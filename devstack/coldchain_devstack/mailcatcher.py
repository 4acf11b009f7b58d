"""The demo's mail catcher: an SMTP server on loopback that keeps every message.

`make demo` points the alerts service's e-mail at it. Each message is saved as a
.eml file in the given folder (open it with any mail program) and announced in
one line. Runs until SIGTERM or Ctrl-C.

    coldchain-demo mail FOLDER PORT
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.count += 1
        name = f"{datetime.now():%Y%m%d-%H%M%S}-{self.count:04d}.eml"
        (self.folder / name).write_bytes(envelope.content)
        to = ", ".join(envelope.rcpt_tos)
        print(f"mail to {to}: {message['Subject']}  ({self.folder / name})", flush=True)
        return "250 kept"


def catch(target: Path, port: int) -> None:
    """Keep the mail sent to 127.0.0.1:`port` in `target` until SIGTERM or SIGINT."""
    target.mkdir(parents=True, exist_ok=True)
    controller = Controller(Keep(target), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"mail catcher on 127.0.0.1:{port}, keeping mail in {target}/", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
