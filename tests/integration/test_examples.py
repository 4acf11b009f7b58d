"""The committed examples in docs/examples/ are what docs/compliance.md says they are.

`make examples` makes them (coldchain_devstack.examples); this checks the files in the
repository, fast and offline: each verifies with the committed example key list as a
final, signed document of the current version, the PDFs are German and carry the
delivery's facts, and docs/compliance.md names every file of the folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from coldchain_devstack import BIN, REPO
from coldchain_reports import keys, signed_pdf

EXAMPLES = REPO / "docs" / "examples"
KEY_LIST = EXAMPLES / "example-keys.pub"
COMPLIANCE = REPO / "docs" / "compliance.md"


def _one(pattern: str) -> Path:
    found = sorted(EXAMPLES.glob(pattern))
    assert len(found) == 1, f"one {pattern} in docs/examples, found {found}"
    return found[0]


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    """`coldchain-report verify FILE --key` as a kitchen runs it: no settings, no database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env["COLDCHAIN_REPORT_INFLUX_URL"] = "http://127.0.0.1:9"  # nothing listens there
    return subprocess.run(
        [str(BIN / "coldchain-report"), "verify", str(path), "--key", str(KEY_LIST)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    "pattern", ["certificate_*.json", "certificate_*_de.pdf", "report_*_de.pdf"]
)
def test_each_example_verifies_offline_with_the_example_key_list(pattern: str) -> None:
    done = _verify(_one(pattern))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("verified: "), done.stdout


@pytest.mark.parametrize(
    ("pattern", "kind", "version"),
    [
        ("certificate_*_de.pdf", "coldchain.delivery-certificate", 4),
        ("report_*_de.pdf", "coldchain.compliance-report", 3),
    ],
)
def test_the_examples_are_final_signed_documents_of_the_current_version(
    pattern: str, kind: str, version: int
) -> None:
    verified = signed_pdf.verify(
        _one(pattern).read_bytes(), keys.load_key_list(KEY_LIST), preliminary_ok=False
    )
    document = verified.document
    assert (document["kind"], document["version"]) == (kind, version)
    assert document["preliminary"] is False and verified.preliminary is False
    assert document["seal"] is not None
    assert document["signature"]["algorithm"] == "Ed25519"


def test_the_certificate_json_is_the_one_inside_its_pdf() -> None:
    inside = signed_pdf.verify(
        _one("certificate_*_de.pdf").read_bytes(), keys.load_key_list(KEY_LIST), False
    ).document
    json_file = _one("certificate_*.json").read_text(encoding="utf-8")
    assert inside["signature"]["value"] in json_file
    assert '"version": 4' in json_file and '"preliminary": false' in json_file


def test_the_pdfs_are_german_and_name_the_delivery() -> None:
    certificate = _text(_one("certificate_*_de.pdf"))
    for words in (
        "Temperaturnachweis zur Lieferung",
        "Lieferschein-Nr.",
        "LS-2025-10-25-0317",
        "Fahrzeug (Kennzeichen)",
        "DO-RW 101",
        "Sabine Keller, Fahrerin",
        "Kalibrierung (EN 13486)",
        "Elektronische Signatur",
    ):
        assert words in certificate, words
    assert "VORLÄUFIG" not in certificate
    report = _text(_one("report_*_de.pdf"))
    for words in ("Temperaturbericht", "Tageswerte", "Konventionen", "Elektronische Signatur"):
        assert words in report, words
    assert "VORLÄUFIG" not in report


def test_docs_compliance_names_every_file_of_docs_examples() -> None:
    text = COMPLIANCE.read_text(encoding="utf-8")
    unnamed = [p.name for p in sorted(EXAMPLES.iterdir()) if p.name not in text]
    assert unnamed == [], f"docs/compliance.md does not name {unnamed}"
