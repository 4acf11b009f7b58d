"""The partner interface's pure parts: a certificate judged by the hub's key list, the
webhook's signature and backoff, and the committed JSON Schemas."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldchain.signatures import (
    InvalidKeyList,
    NotVerified,
    canonical_sha256,
    final_certificate,
    key_list,
    parse_document,
)
from coldchain_alerts.api.routes import partner as partner_api
from coldchain_alerts.partner_webhook import json_schema_text, signature, wait_s
from tests.hubkeys import HANDOVER, certificate, file_text, key_list_text, new_key, sign

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SCHEMA = ROOT / "docs" / "partner-webhook.v1.schema.json"
API_SCHEMA = ROOT / "docs" / "partner-api.v1.schema.json"
HUB = new_key()
KEYS = key_list(key_list_text(HUB), "hub.pub")


def test_a_final_signed_certificate_is_accepted_whatever_its_layout() -> None:
    signed = sign(certificate("LS-1"), HUB)
    final = final_certificate(parse_document(file_text(signed), "file"), KEYS)
    compact = parse_document(json.dumps(signed, separators=(",", ":")), "file")
    assert final.key_id == HUB.key_id and final.delivery == "LS-1"
    assert final.ended_at == HANDOVER
    assert final_certificate(compact, KEYS).sha256 == final.sha256 == canonical_sha256(signed)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(max_c=9.9), "does not match the contents"),
        (lambda d: d["to"].update(utc="2026-03-02T10:30:00Z"), "does not match the contents"),
        (lambda d: d["signature"].update(key_id="0123456789abcdef"), "does not hold"),
        (lambda d: d["signature"].update(value="AAAA"), "not 64 bytes"),
        (lambda d: d.pop("signature"), "not signed"),
        (lambda d: d.update(kind="coldchain.compliance-report"), "not a delivery certificate"),
        (lambda d: d.update(version=2), "version 2"),
        (lambda d: d.update(version=5), "version 5"),
        (lambda d: d.update(version=True), "version True"),
    ],
)
def test_a_changed_certificate_is_refused_with_the_reason(change, reason) -> None:  # type: ignore[no-untyped-def]
    document = sign(certificate(), HUB)
    change(document)
    with pytest.raises(NotVerified, match=reason):
        final_certificate(document, KEYS)


def test_a_certificate_of_the_first_signed_version_is_accepted_too() -> None:
    """Version 3, signed before certificates listed the probe's checks (version 4)."""
    older = sign(certificate("LS-3") | {"version": 3}, HUB)
    assert final_certificate(older, KEYS).delivery == "LS-3"


def test_the_delivery_note_is_read_from_the_delivery_files_data() -> None:
    signed = sign(certificate("LS-2025-10-25-0317"), HUB)
    assert final_certificate(signed, KEYS).delivery == "LS-2025-10-25-0317"
    without = certificate()
    without["delivery"].pop("delivery_note")
    assert final_certificate(sign(without, HUB), KEYS).delivery is None
    with pytest.raises(NotVerified, match="garbles its delivery"):
        final_certificate(sign(certificate() | {"delivery": "LS-1"}, HUB), KEYS)


def test_a_preliminary_certificate_is_refused_even_signed() -> None:
    early = sign(certificate(issued_at=HANDOVER + timedelta(seconds=30)), HUB)
    with pytest.raises(NotVerified, match="preliminary"):
        final_certificate(early, KEYS)


def test_a_certificate_calling_itself_final_too_early_is_refused() -> None:
    lying = certificate(issued_at=HANDOVER + timedelta(seconds=30))
    lying["preliminary"] = False
    with pytest.raises(NotVerified, match="preliminary"):
        final_certificate(sign(lying, HUB), KEYS)


def test_another_key_a_revoked_key_and_a_key_not_yet_valid_are_refused() -> None:
    other = new_key()
    with pytest.raises(NotVerified, match="does not hold"):
        final_certificate(sign(certificate(), other), KEYS)
    revoked = new_key()
    revoked.revoked = (datetime(2026, 4, 1, tzinfo=UTC), "laptop stolen")
    keys = key_list(key_list_text(HUB, revoked), "hub.pub")
    with pytest.raises(NotVerified, match="laptop stolen"):
        final_certificate(sign(certificate(), revoked), keys)
    late = new_key(valid_from=datetime(2027, 1, 1, tzinfo=UTC))
    keys = key_list(key_list_text(late), "hub.pub")
    with pytest.raises(NotVerified, match="outside the time"):
        final_certificate(sign(certificate(), late), keys)


def test_a_field_given_twice_is_refused() -> None:
    text = file_text(sign(certificate(), HUB))
    doubled = text.replace('"max_c": 5.1', '"max_c": 9.9, "max_c": 5.1')
    with pytest.raises(NotVerified, match="twice"):
        parse_document(doubled, "file")


def test_an_edited_key_list_is_refused() -> None:
    edited = json.loads(key_list_text(HUB))
    edited["keys"][0]["key_id"] = "0" * 16
    with pytest.raises(InvalidKeyList, match="edited"):
        key_list(json.dumps(edited), "hub.pub")
    with pytest.raises(InvalidKeyList, match="not a key list"):
        key_list('{"kind": "something"}', "hub.pub")


def test_the_webhook_signature_is_hmac_sha256_over_time_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_x", 1700000000, body) == f"t=1700000000,v1={expected}"


@given(st.integers(1, 10_000), st.floats(0, 1, exclude_max=True))
def test_the_wait_doubles_with_jitter_and_stays_bounded(attempts: int, draw: float) -> None:
    wait = wait_s(attempts, 30.0, 3600.0, lambda: draw)
    full = min(30.0 * 2 ** (attempts - 1), 3600.0) if attempts < 20 else 3600.0
    assert full / 2 <= wait <= full


def test_committed_schemas_are_current() -> None:
    assert WEBHOOK_SCHEMA.read_text(encoding="utf-8") == json_schema_text(), (
        f"regenerate {WEBHOOK_SCHEMA.name}: .venv/bin/python -c 'from coldchain_alerts."
        'partner_webhook import json_schema_text as t; print(t(), end="")\' > docs/'
        f"{WEBHOOK_SCHEMA.name}"
    )
    assert API_SCHEMA.read_text(encoding="utf-8") == partner_api.json_schema_text(), (
        f"regenerate {API_SCHEMA.name}: .venv/bin/python -c 'from coldchain_alerts.api."
        'routes.partner import json_schema_text as t; print(t(), end="")\' > docs/'
        f"{API_SCHEMA.name}"
    )


def test_the_documented_webhook_example_is_valid() -> None:
    doc = (ROOT / "docs" / "partners.md").read_text(encoding="utf-8")
    example = json.loads(doc.split("```json\n", 1)[1].split("```", 1)[0])
    schema = json.loads(WEBHOOK_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(example)
