"""Signed certificates and reports, made from a real InfluxDB and verified without it.

`coldchain-report verify FILE --key hub.pub` runs here with InfluxDB out of reach
(`offline=True`): a kitchen has the document and the hub's key list, nothing else.
Every change to a document, a wrong or revoked key and a preliminary document
presented as final fail with exit status 1 and the reason (tests/signed.py makes
the documents; tests/e2e/test_verify_page.py checks the static page alike).
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from reportlab.pdfgen.canvas import Canvas

from coldchain.signatures import preliminary
from coldchain_devstack.servers import InfluxDB
from coldchain_reports import keys, signed_pdf, signing
from tests.hubkeys import HUB_NAME
from tests.signed import (
    VAN,
    VAN_SENSOR,
    Hub,
    edited,
    flipped,
    make_hub,
    pdf_text,
    reading,
    replaced,
)

VERIFIED = re.compile(
    r"^verified: delivery certificate of van-1\.chilled from 2025-10-26T07:00:00Z to "
    r"2025-10-26T08:30:00Z, issued \S+Z, signed with key [0-9a-f]{16} of the key list of "
    rf"{HUB_NAME} as of \S+Z\n$"
)


@pytest.fixture
def hub(influxdb: InfluxDB, tmp_path: Path) -> Iterator[Hub]:
    yield make_hub(influxdb, tmp_path)


def key_id_of(hub: Hub) -> str:
    listed = json.loads(hub.keys.read_text())["keys"]
    return str(listed[0]["key_id"])


def test_a_certificate_verifies_with_the_key_list_and_no_database(hub: Hub) -> None:
    pdf, json_path = hub.certificate()
    data = json.loads(json_path.read_text())
    assert data["version"] == 4 and data["preliminary"] is False
    assert data["seal"], "a final certificate is sealed"
    assert data["signature"]["algorithm"] == "Ed25519"
    assert data["signature"]["key_id"] == key_id_of(hub)
    [excursion] = data["excursions"]
    assert [action["closed_by"] for action in excursion["actions"]] == ["k.weber"]
    for path in [json_path, pdf]:
        output = hub.run("verify", str(path), "--key", str(hub.keys), offline=True)
        assert VERIFIED.match(output), output
    english, _ = hub.certificate(lang="en")
    assert VERIFIED.match(hub.run("verify", str(english), "--key", str(hub.keys), offline=True))
    text = pdf_text(pdf)
    assert "Elektronische Signatur" in text and key_id_of(hub) in text
    assert "VORLÄUFIG" not in text


def test_the_database_check_still_matches_and_checks_the_signature_first(hub: Hub) -> None:
    _, json_path = hub.certificate()
    output = hub.run("verify", "--certificate", str(json_path), "--key", str(hub.keys))
    assert output.startswith("matches: 90 readings"), output
    output = hub.run("verify", "--certificate", str(json_path), code=2)
    assert "give the hub's public key list" in output, "a signed certificate needs its key"


def test_one_changed_byte_fails(hub: Hub) -> None:
    pdf, json_path = hub.certificate()
    changed = replaced(json_path, b"Stopp 3", b"Stopp 4", "delivery.json")
    output = hub.run("verify", str(changed), "--key", str(hub.keys), code=1, offline=True)
    assert output.startswith("not verified: the signature does not match the contents"), output
    content = pdf.read_bytes()
    record = content.index(signed_pdf.RECORD) + len(signed_pdf.RECORD) + 200
    for at in [20, len(content) // 3, len(content) // 2, record, len(content) - 30]:
        changed = flipped(pdf, at, f"flipped-{at}.pdf")
        output = hub.run("verify", str(changed), "--key", str(hub.keys), code=1, offline=True)
        assert output.startswith("not verified: the signature does not match the file"), (
            at,
            output,
        )
    broken = replaced(json_path, b'"kind"', b'"kind,', "broken.json")
    output = hub.run("verify", str(broken), "--key", str(hub.keys), code=2, offline=True)
    assert "is not JSON" in output


def test_a_changed_reading_fails(hub: Hub) -> None:
    """What the certificate says about the readings is signed; the readings themselves
    are checked against InfluxDB by the seal."""
    pdf, json_path = hub.certificate()

    def cooler(data: dict[str, Any]) -> None:
        data["max_c"] = 5.9
        data["excursions"][0]["peak_c"] = 5.9

    def other_digest(data: dict[str, Any]) -> None:
        data["digest"]["value"] = "0" * 64

    for change in [cooler, other_digest]:
        changed = edited(json_path, change, f"{change.__name__}.json")
        output = hub.run("verify", str(changed), "--key", str(hub.keys), code=1, offline=True)
        assert "the signature does not match the contents" in output, output
    hub.influxdb.write(
        hub.database,
        reading(VAN, VAN_SENSOR, datetime(2025, 10, 26, 7, 20, 30, tzinfo=UTC), 4.5),
    )
    output = hub.run("verify", "--certificate", str(json_path), "--key", str(hub.keys), code=1)
    assert output.startswith("does not match: 90 readings") and "a reading was changed" in output
    assert hub.run("verify", str(pdf), "--key", str(hub.keys), offline=True).startswith(
        "verified"
    ), "the document is still the hub's; the seal tells about the readings"


def test_a_moved_issued_at_fails(hub: Hub) -> None:
    """The review's finding: moved before the alert's closing (after the hand-over), the
    closing drops out of the certificate made again, and the database check agreed."""
    _, json_path = hub.certificate()

    def before_the_closing(data: dict[str, Any]) -> None:
        data["issued_at"] = "2025-10-26T09:00:00Z"
        data["excursions"][0]["actions"] = []

    moved = edited(json_path, before_the_closing, "moved.json")
    output = hub.run("verify", str(moved), "--key", str(hub.keys), code=1, offline=True)
    assert output.startswith("not verified: the signature does not match the contents"), output
    output = hub.run("verify", "--certificate", str(moved), "--key", str(hub.keys), code=1)
    assert output.startswith("not verified: the signature does not match"), output


def test_a_wrong_key_fails(hub: Hub) -> None:
    pdf, json_path = hub.certificate()
    other_private, other_list = hub.another_key("other")
    for path in [json_path, pdf]:
        output = hub.run("verify", str(path), "--key", str(other_list), code=1, offline=True)
        assert f"signed with key {key_id_of(hub)}, which the key list does not hold" in output
    forger = keys.load_signing_key(other_private)
    data = json.loads(json_path.read_text())
    data["excursions"][0]["actions"][0]["product_decision"] = "discard"
    resigned = hub.directory / "resigned.json"
    resigned.write_text(json.dumps(signing.sign(data, forger)))
    output = hub.run("verify", str(resigned), "--key", str(hub.keys), code=1, offline=True)
    assert "which the key list does not hold" in output, "signed by another key"
    posing = keys.SigningKey(key_id_of(hub), forger.private)
    resigned.write_text(json.dumps(signing.sign(data, posing)))
    output = hub.run("verify", str(resigned), "--key", str(hub.keys), code=1, offline=True)
    assert "the signature does not match the contents" in output, "another key under our id"
    swapped = json.loads(hub.keys.read_text())
    swapped["keys"][0]["public_key"] = json.loads(other_list.read_text())["keys"][0]["public_key"]
    forged_list = hub.directory / "forged.pub"
    forged_list.write_text(json.dumps(swapped))
    output = hub.run("verify", str(json_path), "--key", str(forged_list), code=2, offline=True)
    assert "is not that of its public key" in output


def test_a_revoked_key_fails_with_the_reason(hub: Hub) -> None:
    pdf, json_path = hub.certificate()
    hub.run("key", "revoke", key_id_of(hub), "--keys", str(hub.keys),
            "--reason", "Laptop der Hygiene gestohlen")  # fmt: skip
    for path in [json_path, pdf]:
        output = hub.run("verify", str(path), "--key", str(hub.keys), code=1, offline=True)
        assert re.match(
            rf"not verified: key {key_id_of(hub)} was revoked on \S+Z: Laptop der Hygiene "
            "gestohlen",
            output,
        ), output
    hub.env["COLDCHAIN_REPORT_PUBLIC_KEYS"] = str(hub.keys)
    output = hub.refused("certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-26T08:00")
    assert "not signing: key" in output and "revoked" in output


def test_rotation_keeps_old_documents_valid_and_retired_keys_sign_nothing_new(hub: Hub) -> None:
    old_pdf, old_json = hub.certificate()
    old_id = key_id_of(hub)
    new_private = hub.directory / "hub-2.key"
    hub.run("key", "create", "--private-key", str(new_private), "--keys", str(hub.keys))
    hub.run("key", "retire", old_id, "--keys", str(hub.keys))
    for path in [old_pdf, old_json]:
        assert hub.run("verify", str(path), "--key", str(hub.keys), offline=True).startswith(
            "verified"
        ), "signed before the old key was retired"
    hub.env["COLDCHAIN_REPORT_PUBLIC_KEYS"] = str(hub.keys)
    output = hub.refused("certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-26T08:00")
    assert "not signing: issued at" in output and f"key {old_id}" in output
    del hub.env["COLDCHAIN_REPORT_PUBLIC_KEYS"]
    _, late = hub.certificate()
    output = hub.run("verify", str(late), "--key", str(hub.keys), code=1, offline=True)
    assert f"outside the time key {old_id} signs" in output, "the retired key signed it"
    hub.env["COLDCHAIN_REPORT_SIGNING_KEY"] = str(new_private)
    new_pdf, new_json = hub.certificate()
    for path in [new_pdf, new_json]:
        assert hub.run("verify", str(path), "--key", str(hub.keys), offline=True).startswith(
            "verified"
        )


def test_a_preliminary_certificate_says_so_and_fails_as_final(hub: Hub) -> None:
    pdf, json_path = hub.under_way()
    data = json.loads(json_path.read_text())
    assert data["preliminary"] is True
    assert data["seal"] is None, "no seal: its readings are not all stored yet"
    text = pdf_text(pdf)
    assert "VORLÄUFIG" in text and "kein endgültiger Nachweis" in text
    assert "verify --seal" not in text, "no seal to check against the database"
    for path in [json_path, pdf]:
        output = hub.run("verify", str(path), "--key", str(hub.keys), code=1, offline=True)
        assert output.startswith("not verified: preliminary: issued at"), output
        output = hub.run("verify", str(path), "--key", str(hub.keys), "--preliminary", offline=True)
        assert output.startswith("verified as preliminary: delivery certificate"), output
    final = edited(json_path, lambda d: d.update(preliminary=False), "final.json")
    output = hub.run("verify", str(final), "--key", str(hub.keys), code=1, offline=True)
    assert "the signature does not match the contents" in output, "presented as final"
    output = hub.run("verify", "--certificate", str(json_path), "--key", str(hub.keys), code=1)
    assert output.startswith("not verified: preliminary"), output
    english, _ = hub.under_way(lang="en")
    assert "PRELIMINARY" in pdf_text(english)


def test_a_certificate_is_final_once_its_last_reading_holds_no_longer(hub: Hub) -> None:
    """Preliminary until 1.5 recording intervals (90 s here) after the hand-over: the rule
    at its edge, then a certificate whose hand-over is past that edge. (The command's own
    clock decides, so the edge itself is checked on the rule.)"""
    end, reach_s = datetime(2025, 10, 26, 8, 30, tzinfo=UTC), 90.0
    assert preliminary(end, end + timedelta(seconds=89.999), reach_s)
    assert not preliminary(end, end + timedelta(seconds=90), reach_s)
    end = hub.now - timedelta(seconds=91)
    _, json_path = hub.certificate(_utc(end - timedelta(hours=1)), _utc(end))
    data = json.loads(json_path.read_text())
    assert data["preliminary"] is False and data["seal"], data["issued_at"]


def test_a_report_is_signed_and_vouches_for_its_csv(hub: Hub) -> None:
    pdf, csv_path, json_path = hub.report("2025-10-25", "2025-10-26")
    data = json.loads(json_path.read_text())
    assert data["version"] == 3 and data["preliminary"] is False
    assert data["csv_sha256"] == hashlib.sha256(csv_path.read_bytes()).hexdigest()
    assert [row["preliminary"] for row in data["days"]] == [False]
    for path in [json_path, pdf]:
        output = hub.run("verify", str(path), "--key", str(hub.keys), offline=True)
        assert output.startswith(
            "verified: compliance report of cold-room-1.air from 2025-10-24T22:00:00Z to "
            "2025-10-25T22:00:00Z"
        ), output
    assert csv_path.read_bytes().split(b"\r\n")[0].endswith(b",preliminary")
    assert csv_path.read_text().splitlines()[1].endswith(",false")


def test_a_report_of_the_version_before_still_verifies_and_a_newer_one_does_not(
    hub: Hub,
) -> None:
    """Version 2, signed before the days' calibration came, stays verifiable offline."""
    _, _, json_path = hub.report("2025-10-25", "2025-10-26")

    def as_version(version: int) -> Callable[[dict[str, Any]], None]:
        def change(data: dict[str, Any]) -> None:
            data["version"] = version
            for day in data["days"]:
                del day["calibration"], day["unverified_readings"]

        return change

    older = hub.resigned(json_path, as_version(2), "version-2.json")
    output = hub.run("verify", str(older), "--key", str(hub.keys), offline=True)
    assert output.startswith("verified: compliance report of cold-room-1.air"), output
    newer = hub.resigned(json_path, as_version(4), "version-4.json")
    output = hub.run("verify", str(newer), "--key", str(hub.keys), code=1, offline=True)
    assert "version 4 of a compliance report is unknown to this coldchain-report" in output


def test_a_report_of_today_is_preliminary(hub: Hub) -> None:
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    pdf, csv_path, json_path = hub.report(yesterday.isoformat(), tomorrow.isoformat())
    data = json.loads(json_path.read_text())
    assert data["preliminary"] is True and data["seal"] is None
    assert [row["preliminary"] for row in data["days"]] == [False, True]
    rows = csv_path.read_text().splitlines()[1:]
    assert [row.rsplit(",", 1)[1] for row in rows] == ["false", "true"]
    text = pdf_text(pdf)
    assert "VORLÄUFIG" in text and "verify --seal" not in text
    output = hub.run("verify", str(json_path), "--key", str(hub.keys), code=1, offline=True)
    assert output.startswith("not verified: preliminary"), output


def test_older_versions_say_how_to_verify_them(hub: Hub) -> None:
    _, json_path = hub.certificate()

    def version_2(data: dict[str, Any]) -> None:
        data["version"] = 2
        for field in ["signature", "preliminary"]:
            del data[field]

    older = edited(json_path, version_2, "version-2.json")
    output = hub.run("verify", str(older), "--key", str(hub.keys), code=1, offline=True)
    assert output.startswith(
        "not verified: version 2 of a delivery certificate is not signed (delivery certificates "
        "are signed from version 3 on); verify it against the hub's database: "
        "coldchain-report verify --certificate FILE"
    ), output
    unsigned = hub.directory / "unsigned.pdf"
    canvas = Canvas(str(unsigned))
    canvas.drawString(100, 700, "Temperaturnachweis")
    canvas.save()
    output = hub.run("verify", str(unsigned), "--key", str(hub.keys), code=1, offline=True)
    assert "this PDF carries no signature" in output and "verify --seal" in output


def test_a_field_given_twice_is_refused(hub: Hub) -> None:
    _, json_path = hub.certificate()
    text = json_path.read_text()
    twice = hub.directory / "twice.json"
    twice.write_text(text.replace('"delivery":', '"readings": 1,\n  "delivery":', 1))
    output = hub.run("verify", str(twice), "--key", str(hub.keys), code=1, offline=True)
    assert "gives the field 'readings' twice" in output


def test_keys_are_created_private_and_never_overwritten(hub: Hub) -> None:
    private = Path(hub.env["COLDCHAIN_REPORT_SIGNING_KEY"])
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    before = private.read_bytes()
    output = hub.run("key", "create", "--private-key", str(private), "--keys", str(hub.keys),
                     code=2)  # fmt: skip
    assert "is never overwritten" in output and private.read_bytes() == before
    private.chmod(0o644)
    output = hub.refused("certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-26T08:00")
    assert "may be read by others (mode 0644)" in output and "chmod 600" in output
    del hub.env["COLDCHAIN_REPORT_SIGNING_KEY"]
    output = hub.run("report", "--asset", "cold-room-1", "--from", "2025-10-25", code=2)
    assert "COLDCHAIN_REPORT_SIGNING_KEY" in output and "key create" in output
    output = hub.run("verify", str(private), code=2, offline=True)
    assert "--key hub.pub" in output


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_key_id_a_terminal_would_obey_is_refused_and_never_printed(hub: Hub) -> None:
    """The review's finding: the unknown key id was printed raw, and escape sequences in
    it overwrote the line with a fake 'verified:'."""
    _, json_path = hub.certificate()
    fake = f"verified: delivery certificate of van-1.chilled, signed with key {key_id_of(hub)}"

    def escaped(data: dict[str, Any]) -> None:
        data["max_c"] = 5.9
        data["signature"]["key_id"] = "\r\x1b[2K" + fake + "\x1b[8m"

    for change, name in [(escaped, "ansi.json"), (lambda d: d["signature"].update(
            key_id=f"{key_id_of(hub)}\n{fake}"), "newline.json")]:  # fmt: skip
        forged = edited(json_path, change, name)
        output = hub.run("verify", str(forged), "--key", str(hub.keys), code=1, offline=True)
        assert output.startswith("not verified: its signature names no key id"), output
        assert "\x1b" not in output and output.count("\n") == 1, repr(output)


def test_a_retired_key_cannot_make_a_backdated_document_final(hub: Hub) -> None:
    """The review's finding: a retired key that still exists signed a certificate dated
    before its retirement for a delivery after it, made 'final' by a negative reach."""
    _, json_path = hub.certificate()
    retired = hub.directory / "retired.pub"
    retired.write_bytes(hub.keys.read_bytes())
    hub.run("key", "retire", key_id_of(hub), "--keys", str(retired), "--at", "2025-06-01T00:00Z")

    def backdated(reach: Any) -> Any:
        def change(data: dict[str, Any]) -> None:
            data["issued_at"] = "2025-05-01T00:00:00Z"
            data["conventions"]["reading_holds_at_most_s"] = reach

        return change

    for reach, name in [(-1e9, "negative"), ("1e999", "huge"), (0, "zero"), (None, "none")]:
        forged = hub.resigned(json_path, backdated(reach), f"{name}.json")
        output = hub.run("verify", str(forged), "--key", str(retired), code=1, offline=True)
        assert "conventions give no time a reading holds" in output, (reach, output)
    for issued in ["2025-05-31T23:30:00", "Sat, 31 May 2025 00:00:00 GMT", "9999-12-31T23:59:59Z"]:
        forged = hub.resigned(json_path, lambda d, at=issued: d.update(issued_at=at), "t.json")
        output = hub.run("verify", str(forged), "--key", str(retired), code=1, offline=True)
        assert output.startswith("not verified: "), (issued, output)


def test_the_verdict_names_the_key_list_a_forger_sent_along(hub: Hub) -> None:
    """The review's finding: a forger's own key list, named hub.pub, verified a forged
    certificate as the hub's. The verdict names the hub the list names and its date."""
    _, json_path = hub.certificate()
    private, forged_list = hub.another_key("forger", hub="REGIOwez Logistik")
    hub.env["COLDCHAIN_REPORT_SIGNING_KEY"] = str(private)
    forged = hub.resigned(json_path, lambda d: d.update(max_c=5.9), "forged.json")
    output = hub.run("verify", str(forged), "--key", str(forged_list), offline=True)
    forger_id = json.loads(forged_list.read_text())["keys"][0]["key_id"]
    assert re.search(
        rf"signed with key {forger_id} of the key list of REGIOwez Logistik as of \S+Z$", output
    ), output
    older = json.loads(hub.keys.read_text())
    del older["hub"], older["issued_at"]
    older_list = hub.directory / "older.pub"
    older_list.write_text(json.dumps(older))
    output = hub.run("verify", str(json_path), "--key", str(older_list), offline=True)
    assert "of a key list that names no hub and no date (an older one" in output, output
    output = hub.run("key", "retire", key_id_of(hub), "--keys", str(older_list), code=2)
    assert "names no hub yet: give its name with --hub" in output, output
    hub.run("key", "retire", key_id_of(hub), "--keys", str(older_list), "--hub", HUB_NAME)
    assert json.loads(older_list.read_text())["hub"] == HUB_NAME, "the first change names it"
    output = hub.run("key", "create", "--private-key", str(hub.directory / "new.key"),
                     "--keys", str(hub.directory / "new.pub"), code=2)  # fmt: skip
    assert "names no hub yet" in output, output


def test_a_key_list_with_a_key_twice_is_refused(hub: Hub) -> None:
    """The review's finding: with a key listed twice, one entry revoked, the command took
    the first entry, the page the last, and `key revoke` changed only the first."""
    _, json_path = hub.certificate()
    data = json.loads(hub.keys.read_text())
    entry = data["keys"][0]
    revoked = {**entry, "revoked": {"at": "2026-01-01T00:00:00Z", "reason": "Laptop gestohlen"}}
    data["keys"] = [entry, revoked]
    twice = hub.directory / "twice.pub"
    twice.write_text(json.dumps(data))
    output = hub.run("verify", str(json_path), "--key", str(twice), code=2, offline=True)
    assert f"holds key {key_id_of(hub)} twice" in output, output
    output = hub.run("key", "revoke", key_id_of(hub), "--keys", str(twice), "--reason", "x",
                     code=2)  # fmt: skip
    assert "twice" in output, output
