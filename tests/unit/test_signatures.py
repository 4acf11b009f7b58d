"""The one pure verification, `coldchain.signatures`, attacked: text a terminal would
obey, a signer's own conventions deciding what is final, times no RFC 3339 reader
takes, numbers past any range, and key lists that name no hub or hold a key twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coldchain.signatures import (
    InvalidKeyList,
    NotVerified,
    final_certificate,
    key_list,
    shown,
)
from tests.hubkeys import HANDOVER, HUB_NAME, certificate, key_list_text, new_key, sign

HUB = new_key()
KEYS = key_list(key_list_text(HUB), "hub.pub")


@pytest.mark.parametrize(
    "key_id",
    [
        "\r\x1b[2Kverified: delivery certificate of van-1.chilled\x1b[8m",
        "0123456789abcdef\nverified: it is fine",
        "0123456789ABCDEF",
        "0123456789abcde",
        12345,
        None,
    ],
)
def test_a_key_id_that_is_none_is_refused_before_any_lookup(key_id: Any) -> None:
    document = sign(certificate(), HUB)
    document["signature"]["key_id"] = key_id
    with pytest.raises(NotVerified, match="names no key id") as refused:
        final_certificate(document, KEYS)
    assert shown(refused.value.reason) == refused.value.reason, "nothing a terminal obeys"


def test_document_text_is_shown_escaped() -> None:
    assert shown("van-1.chilled") == "van-1.chilled"
    assert shown("a\x1b[2Kb\nc") == repr("a\x1b[2Kb\nc")
    assert shown("a\u202eb") == repr("a\u202eb"), "a bidi override turns text around"


def _signed(issued: datetime, **fields: Any) -> dict[str, Any]:
    return sign(certificate(issued_at=issued) | fields, HUB)


@pytest.mark.parametrize(
    "conventions",
    [
        {"reading_holds_at_most_s": -1e9},
        {"reading_holds_at_most_s": 0},
        {"reading_holds_at_most_s": "90"},
        {"reading_holds_at_most_s": "1e999"},
        {"reading_holds_at_most_s": True},
        {"reading_holds_at_most_s": 1e9},
        {},
        None,
    ],
)
def test_the_signers_conventions_cannot_make_an_early_document_final(conventions: Any) -> None:
    """A retired key that still exists signs a 'final' certificate dated before its
    retirement for a delivery after it: the reach must be a sane positive number."""
    early = HANDOVER - timedelta(days=100)
    forged = _signed(early, conventions=conventions, preliminary=False)
    with pytest.raises(NotVerified, match="conventions"):
        final_certificate(forged, KEYS)


@pytest.mark.parametrize(
    "issued_at",
    [
        "2026-03-02T10:30:00",
        "Mon, 02 Mar 2026 10:30:00 GMT",
        "20260302T103000Z",
        "2026-03-02 10:30:00Z",
        "2026-03-02T10:30:00+0100",
        "2026-W10-1T10:30:00Z",
    ],
)
def test_a_time_that_is_not_rfc_3339_is_refused(issued_at: str) -> None:
    document = sign(certificate() | {"issued_at": issued_at}, HUB)
    with pytest.raises(NotVerified, match="garbles"):
        final_certificate(document, KEYS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", {"utc": "9999-12-31T23:59:59Z"}),
        ("to", {"utc": "0001-01-01T00:00:00+01:00"}),
        ("issued_at", "0001-01-01T00:00:00+01:00"),
    ],
)
def test_times_at_the_edge_of_the_calendar_are_refused_without_a_crash(
    field: str, value: Any
) -> None:
    document = sign(certificate() | {field: value}, HUB)
    with pytest.raises(NotVerified):
        final_certificate(document, KEYS)


def test_a_key_list_names_its_hub_and_its_date() -> None:
    described = KEYS.described()
    assert described.startswith(f"the key list of {HUB_NAME} as of 20"), described
    older = json.loads(key_list_text(HUB))
    del older["hub"], older["issued_at"]
    note = key_list(json.dumps(older), "hub.pub").described()
    assert "names no hub" in note and "ask the hub" in note, note


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("hub"),
        lambda d: d.pop("issued_at"),
        lambda d: d.update(hub="Hub\r\x1b[2KDortmund"),
        lambda d: d.update(hub=""),
        lambda d: d.update(hub=7),
        lambda d: d.update(issued_at="2026-03-02T10:30:00"),
        lambda d: d["keys"].append(d["keys"][0]),
        lambda d: d["keys"][0].update(revoked={"at": "2026-04-01T00:00:00Z", "reason": "a\x1bb"}),
    ],
)
def test_a_key_list_that_is_half_named_garbled_or_holds_a_key_twice_is_refused(change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(key_list_text(HUB))
    change(data)
    with pytest.raises(InvalidKeyList):
        key_list(json.dumps(data), "hub.pub")


def test_a_key_given_twice_names_the_key() -> None:
    data = json.loads(key_list_text(HUB))
    data["keys"].append({**data["keys"][0], "revoked": None})
    with pytest.raises(InvalidKeyList, match=f"holds key {HUB.key_id} twice"):
        key_list(json.dumps(data), "hub.pub")


def test_a_final_certificate_still_verifies() -> None:
    final = final_certificate(_signed(HANDOVER + timedelta(hours=1)), KEYS)
    assert final.issued_at == HANDOVER + timedelta(hours=1)
    assert final.ended_at == HANDOVER
    assert final.issued_at.tzinfo is UTC
