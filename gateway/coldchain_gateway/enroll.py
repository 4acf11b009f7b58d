"""Install a provisioning bundle: the gateway's broker account, its settings, the broker's CA.

The alerts service writes the bundle once (`coldchain-alerts gateway enroll`, or
`POST /api/v1/gateways`); here it becomes an env file for `coldchain-gateway
--env-file`, readable by its owner only (it holds the password; systemd reads it as
root), and the authority's certificate, readable by everyone: it is public, and the
gateway's service user (`User=coldchain` in docs/systemd) must read it to check the
broker. An existing enrollment is kept unless the caller forces a new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coldchain.contract import ID_PATTERN

#: The bundle format this gateway installs (coldchain_alerts.gateways.BUNDLE_VERSION).
BUNDLE_VERSION = 1
PREFIX = "COLDCHAIN_GATEWAY_"
#: The settings a bundle gives, and nothing else: a bundle cannot set the outbox's path.
GIVEN = frozenset(
    f"{PREFIX}{name}"
    for name in (
        "SITE",
        "ID",
        "MQTT_HOST",
        "MQTT_PORT",
        "MQTT_TLS",
        "MQTT_USERNAME",
        "MQTT_PASSWORD",
    )
)


class EnrollError(Exception):
    """The bundle is unusable, or an enrollment exists; the message says what to do."""


class Bundle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coldchain_gateway_bundle: int
    site: str = Field(pattern=ID_PATTERN)
    gateway: str = Field(pattern=ID_PATTERN)
    issued_at: str
    ca_certificate: str | None
    settings: dict[str, str]


def read(path: Path) -> Bundle:
    try:
        data: Any = json.loads(path.read_text())
        bundle = Bundle.model_validate(data)
    except OSError as exc:
        raise EnrollError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, ValidationError) as exc:
        raise EnrollError(f"{path} is not a coldchain gateway bundle: {exc}") from None
    if bundle.coldchain_gateway_bundle != BUNDLE_VERSION:
        raise EnrollError(
            f"{path} is a bundle of version {bundle.coldchain_gateway_bundle}; this gateway "
            f"installs version {BUNDLE_VERSION}: update coldchain-gateway"
        )
    if set(bundle.settings) != GIVEN:
        raise EnrollError(
            f"{path} gives the settings {sorted(bundle.settings)}, not {sorted(GIVEN)}"
        )
    if any("\n" in value for value in bundle.settings.values()):
        raise EnrollError(f"{path} has a setting with a line break")
    ca = bundle.ca_certificate
    if ca is not None and "-----BEGIN CERTIFICATE-----" not in ca:
        raise EnrollError(f"{path}: ca_certificate is not a PEM certificate")
    if bundle.settings[f"{PREFIX}MQTT_TLS"] == "true" and ca is None:
        raise EnrollError(f"{path} asks for TLS but carries no CA certificate")
    return bundle


def install(bundle: Bundle, env_file: Path, ca_dir: Path, force: bool) -> list[Path]:
    """Write the CA certificate and the env file; the paths written."""
    ca_file = ca_dir / "coldchain-ca.crt"
    if env_file.exists() and not force:
        raise EnrollError(
            f"{env_file} exists: this gateway is enrolled already. To replace the "
            "enrollment, run again with --force"
        )
    lines = [f"{name}={value}" for name, value in sorted(bundle.settings.items())]
    written = []
    if bundle.ca_certificate is not None:
        _write(ca_file, bundle.ca_certificate, 0o644)
        lines.append(f"{PREFIX}MQTT_CA_FILE={ca_file}")
        written.append(ca_file)
    _write(env_file, "".join(f"{line}\n" for line in lines), 0o600)
    written.append(env_file)
    return written


def _write(path: Path, text: str, mode: int) -> None:
    """Write `path` in one step, with `mode` from its first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(descriptor, mode)  # the umask must not narrow (or widen) it
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
