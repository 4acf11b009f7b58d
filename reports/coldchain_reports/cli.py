"""`coldchain-report`: compliance reports, delivery certificates, and their verification.

Every report and certificate is signed with the hub's key; `verify FILE --key
hub.pub` checks one without a database, `verify --certificate`/`--seal` against
the readings in InfluxDB. Settings come from COLDCHAIN_REPORT_* environment
variables (or --env-file); see docs/configuration.md and docs/compliance.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from coldchain.compliance import Judged, judged_readings
from coldchain.corrective import ClosedAlert
from coldchain.errors import FleetConfigError
from coldchain.fleet import Fleet
from coldchain.languages import Language
from coldchain.signatures import KeyList, NotVerified, utc_text
from coldchain_io.influx import InfluxHttp
from coldchain_reports import (
    calibration,
    certificate,
    delivery,
    keys,
    pdf,
    report,
    scope,
    signed_pdf,
    signing,
)
from coldchain_reports.errors import EditedCertificate, InvalidInput, ReportError
from coldchain_reports.labels import Labels
from coldchain_reports.limit_periods import LimitPoint
from coldchain_reports.readings import Readings
from coldchain_reports.seal import Seal
from coldchain_reports.settings import ReportSettings

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
key_app = typer.Typer(
    help="The hub's signing keys: create one, retire it when replaced, revoke it when lost.",
    no_args_is_help=True,
)
app.add_typer(key_app, name="key")


EnvFile = Annotated[
    Path | None,
    typer.Option(help="A .env file with COLDCHAIN_REPORT_* settings.", exists=True, dir_okay=False),
]
Lang = Annotated[Language, typer.Option("--lang", help="Language of the PDF.")]
OutDir = Annotated[Path, typer.Option(help="Folder for the files (created if missing).")]
CalibrationFile = Annotated[
    Path | None,
    typer.Option(
        "--calibration",
        help="CSV of recorder checks (sensor,checked_on,due_on,reference).",
        dir_okay=False,
    ),
]


@app.command("report")
def report_command(
    asset: Annotated[str, typer.Option(help="Asset id from the fleet file, e.g. cold-room-1.")],
    from_day: Annotated[
        str, typer.Option("--from", help="First local day (YYYY-MM-DD), included.")
    ],
    to_day: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Local day (YYYY-MM-DD) the period ends at, excluded. "
            "Default: the day after --from.",
        ),
    ] = None,
    sensor: Annotated[
        str | None, typer.Option(help="The asset's sensor, when it has more than one.")
    ] = None,
    lang: Lang = "de",
    out_dir: OutDir = Path(),
    calibration_file: CalibrationFile = None,
    env_file: EnvFile = None,
) -> None:
    """A PDF, a CSV and a JSON file for one asset over local days [--from, --to)."""
    with _errors():
        settings = ReportSettings(_env_file=env_file)
        key = _signing_key(settings)
        target = scope.of_asset(_fleet(settings), asset, sensor)
        first_day = _day(from_day, "--from")
        end_day = _day(to_day, "--to") if to_day else first_day + timedelta(days=1)
        last_day = end_day - timedelta(days=1)
        start, end = report.period_bounds(first_day, last_day, target.timezone)
        judged, closings, limit_points = _read(settings, target, start, end)
        result = report.build(
            target,
            first_day,
            last_day,
            judged.samples,
            _checks(settings, calibration_file, target),
            closings,
            judged.events,
            _now(),
            limit_points,
        )
        days = f"{first_day}" if first_day == last_day else f"{first_day}_{last_day}"
        stem = out_dir / f"report_{asset}_{days}"
        pdf_path, csv_path = Path(f"{stem}_{lang}.pdf"), Path(f"{stem}.csv")
        json_path = Path(f"{stem}.json")
        out_dir.mkdir(parents=True, exist_ok=True)
        table = _csv_bytes(report.csv_rows(result))
        document = signing.sign(report.to_json(result, hashlib.sha256(table).hexdigest()), key)
        labels = Labels(lang, target.timezone)
        _write_pdf(pdf_path, lambda path, info: pdf.render_report(result, labels, path, info),
                   document, key)  # fmt: skip
        csv_path.write_bytes(table)
        _write_json(json_path, document)
        typer.echo(f"{pdf_path}\n{csv_path}\n{json_path}")
        typer.echo(
            f"{result.alarm.samples} readings, coverage {result.alarm.coverage_pct:.2f} %, "
            f"{len(result.alarm.excursions)} excursions, "
            f"{len(result.alarm.short_deviations)} short deviations, "
            f"sha256 {result.seal.digest}, signed with key {key.key_id}"
            + (", PRELIMINARY: the period has not ended" if result.preliminary else ""),
            err=True,
        )


@app.command("certificate")
def certificate_command(
    sensor: Annotated[str, typer.Option(help="Compartment sensor, e.g. van-1.chilled.")],
    loading: Annotated[
        str,
        typer.Option(
            "--from", help="Loading time, ISO 8601; without an offset it is the site's local time."
        ),
    ],
    handover: Annotated[
        str, typer.Option("--to", help="Hand-over time (excluded), ISO 8601 like --from.")
    ],
    delivery_file: Annotated[
        Path,
        typer.Option(
            "--delivery",
            help="YAML or JSON file of the delivery: delivery_note, goods (description, lot, "
            "quantity), receiver (name, address), responsible (name, role), tour.",
            dir_okay=False,
        ),
    ],
    lang: Lang = "de",
    out_dir: OutDir = Path(),
    calibration_file: CalibrationFile = None,
    env_file: EnvFile = None,
) -> None:
    """A PDF and a JSON certificate for one delivery: a compartment from loading to hand-over."""
    with _errors():
        shipped = delivery.load(delivery_file)
        settings = ReportSettings(_env_file=env_file)
        key = _signing_key(settings)
        target = scope.of_sensor(_fleet(settings), sensor)
        start = _moment(loading, target.timezone, "--from")
        end = _moment(handover, target.timezone, "--to")
        certificate.check_interval(start, end)
        judged, closings, limit_points = _read(settings, target, start, end)
        result = certificate.build(
            target,
            start,
            end,
            judged.samples,
            shipped,
            _now(),
            closings,
            judged.events,
            _checks(settings, calibration_file, target),
            limit_points,
        )
        local = start.astimezone(ZoneInfo(target.timezone))
        stem = out_dir / f"certificate_{sensor}_{local:%Y-%m-%d_%H%M%S}"
        pdf_path, json_path = Path(f"{stem}_{lang}.pdf"), Path(f"{stem}.json")
        out_dir.mkdir(parents=True, exist_ok=True)
        document = signing.sign(certificate.to_json(result), key)
        labels = Labels(lang, target.timezone)
        _write_pdf(pdf_path, lambda path, info: pdf.render_certificate(result, labels, path, info),
                   document, key)  # fmt: skip
        _write_json(json_path, document)
        typer.echo(f"{pdf_path}\n{json_path}")
        if result.preliminary:
            typer.echo(
                "PRELIMINARY: the delivery has not ended (or its last readings are not stored "
                "yet); the certificate says so and has no seal",
                err=True,
            )


@app.command("verify")
def verify_command(
    document_file: Annotated[
        Path | None,
        typer.Argument(
            help="A signed certificate or report (its JSON or its PDF), checked with --key "
            "without a database.",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="The hub's public key list (hub.pub); default COLDCHAIN_REPORT_PUBLIC_KEYS.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    preliminary_ok: Annotated[
        bool,
        typer.Option(
            "--preliminary", help="Accept a preliminary document, as preliminary, not as final."
        ),
    ] = False,
    certificate_file: Annotated[
        Path | None,
        typer.Option(
            "--certificate", help="A certificate's JSON file.", exists=True, dir_okay=False
        ),
    ] = None,
    seal_text: Annotated[
        str | None,
        typer.Option(
            "--seal",
            help="A seal as a QR code or a report holds it: "
            '{"v":1,"a":...,"s":...,"f":...,"t":...,"d":...}.',
        ),
    ] = None,
    env_file: EnvFile = None,
) -> None:
    """Check a signed document offline (FILE --key), or the readings in InfluxDB (--certificate,
    --seal): exit 0 verified or matches, 1 not verified or does not match, 2 an error.

    FILE --key checks the signature, the key (known, not revoked, valid when the document was
    issued) and that the document is final. --certificate and --seal read the readings again;
    a certificate is also made again from the readings and closings known when it was
    issued and the fleet file: every number, limit and action it states must agree, and
    with --key its signature is checked first.
    """
    with _errors():
        if sum(given is not None for given in (document_file, certificate_file, seal_text)) != 1:
            raise InvalidInput("give one of FILE (with --key), --certificate FILE or --seal TEXT")
        settings = ReportSettings(_env_file=env_file)
        if document_file is not None:
            verified = _verified(document_file, _key_list(key_file, settings), preliminary_ok)
            prefix = "verified as preliminary" if verified.preliminary else "verified"
            typer.echo(f"{prefix}: {verified.summary()}")
            return
        data = None if certificate_file is None else _certificate(certificate_file)
        if data is not None and signing.signed_version(data):
            signing.verify(data, _key_list(key_file, settings), preliminary_ok=False)
        try:
            seal = Seal.parse(str(seal_text)) if data is None else certificate.seal_of(data)
        except EditedCertificate as exc:
            typer.echo(f"does not match: {exc}")
            raise typer.Exit(1) from None
        with _readings(settings) as readings:
            samples = readings.temperatures(seal.asset, seal.sensor, seal.start, seal.end)
        digest = Seal.over(seal.asset, seal.sensor, seal.start, seal.end, samples).digest
        span = f"{seal.sensor} from {utc_text(seal.start)} to {utc_text(seal.end)}"
        if digest != seal.digest:
            typer.echo(
                f"does not match: {len(samples)} readings of {span} now give sha256 {digest}, "
                f"the seal says {seal.digest}; a reading was changed, added or removed"
            )
            raise typer.Exit(1)
        matches = f"matches: {len(samples)} readings of {span}, sha256 {digest}"
        if data is None:
            typer.echo(matches)
            return
        found = _stated_otherwise(settings, data, seal)
        if found:
            typer.echo(
                "does not match: the readings are those of the seal, but the certificate "
                "states other things than they and the fleet file give: it was edited, or "
                "the fleet file changed since it was issued\n  " + "\n  ".join(found)
            )
            raise typer.Exit(1)
        typer.echo(f"{matches}; its numbers, limits and actions agree with them")


KeyListFile = Annotated[
    Path, typer.Option("--keys", help="The hub's public key list (hub.pub).", dir_okay=False)
]
HubName = Annotated[
    str | None,
    typer.Option(
        "--hub",
        help="The hub's name, which the key list names and verifiers show; needed where the "
        "list names none yet (a new or an older list).",
    ),
]


@key_app.command("create")
def key_create(
    private_key: Annotated[
        Path,
        typer.Option(
            help="New file for the private key (mode 0600); set COLDCHAIN_REPORT_SIGNING_KEY "
            "to it.",
            dir_okay=False,
        ),
    ],
    keys_file: KeyListFile,
    valid_from: Annotated[
        str | None,
        typer.Option(
            help="When the key starts signing, ISO 8601 (default: now; UTC if no offset)."
        ),
    ] = None,
    hub: HubName = None,
) -> None:
    """A new signing key: the private key in its own file, the public key added to the key
    list (created if missing) that you hand out."""
    with _errors():
        start = _moment(valid_from, "UTC", "--valid-from") if valid_from else _now()
        created = keys.create(private_key, keys_file, start, hub)
        typer.echo(
            f"key {created.key_id}: private key in {private_key} (keep it secret, never hand it "
            f"out), public key added to {keys_file} (hand this file out)"
        )


@key_app.command("retire")
def key_retire(
    key_id: Annotated[str, typer.Argument(help="The id of the key that was replaced.")],
    keys_file: KeyListFile,
    at: Annotated[
        str | None,
        typer.Option(help="When it stopped signing, ISO 8601 (default: now; UTC if no offset)."),
    ] = None,
    hub: HubName = None,
) -> None:
    """The key signs nothing issued from --at on; what it signed before still verifies."""
    with _errors():
        until = _moment(at, "UTC", "--at") if at else _now()
        retired = keys.retire(keys_file, key_id, until, hub)
        typer.echo(f"key {retired.key_id} signs nothing issued from {utc_text(until)} on")


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The id of the key that may be known to others.")],
    keys_file: KeyListFile,
    reason: Annotated[
        str, typer.Option(help="Why, for everyone who verifies: e.g. 'laptop stolen'.")
    ],
    hub: HubName = None,
) -> None:
    """The key is refused for every document, whenever it says it was issued: hand the key
    list out again and issue the documents still needed with a new key."""
    with _errors():
        revoked = keys.revoke(keys_file, key_id, _now(), reason, hub)
        typer.echo(f"key {revoked.key_id} revoked: {reason}")


def _verified(path: Path, key_list: KeyList, preliminary_ok: bool) -> signing.Verified:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path} ({exc.strerror}); check the path") from None
    if content.startswith(b"%PDF-"):
        return signed_pdf.verify(content, key_list, preliminary_ok)
    return signing.verify(signing.parse(content, str(path)), key_list, preliminary_ok)


def _key_list(key_file: Path | None, settings: ReportSettings) -> KeyList:
    path = key_file or settings.public_keys
    if path is None:
        raise InvalidInput(
            "give the hub's public key list: --key hub.pub (or set COLDCHAIN_REPORT_PUBLIC_KEYS)"
        )
    return keys.load_key_list(path)


def _signing_key(settings: ReportSettings) -> keys.SigningKey:
    """The key that signs, checked against the hub's own key list when it is set."""
    if settings.signing_key is None:
        raise InvalidInput(
            "reports and certificates are signed, and no key is set: create one with "
            "`coldchain-report key create --private-key hub.key --keys hub.pub --hub NAME` "
            "and set COLDCHAIN_REPORT_SIGNING_KEY=hub.key (docs/compliance.md)"
        )
    key = keys.load_signing_key(settings.signing_key)
    if settings.public_keys is not None:
        listed = keys.load_key_list(settings.public_keys).find(key.key_id)
        if listed is None:
            raise InvalidInput(
                f"the signing key {key.key_id} is not in the key list {settings.public_keys}: "
                "nobody could verify what it signs"
            )
        refusal = listed.refusal(_now())
        if refusal:
            raise InvalidInput(f"not signing: {refusal}")
    return key


def _write_pdf(
    path: Path,
    render: Callable[[Path, signed_pdf.Info], None],
    document: dict[str, Any],
    key: keys.SigningKey,
) -> None:
    """Render the PDF with the signed document inside, sign its bytes, and only then put
    it at `path`: no unsigned PDF is ever there."""
    partial = path.with_name(f".{path.name}.partial")
    render(partial, signed_pdf.Info(document, key.key_id))
    partial.write_bytes(signed_pdf.sign(partial.read_bytes(), key))
    partial.replace(path)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _certificate(path: Path) -> dict[str, Any]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path} ({exc.strerror}); check the path") from None
    except ValueError as exc:
        raise InvalidInput(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not a certificate")
    return data


def _stated_otherwise(settings: ReportSettings, data: dict[str, Any], seal: Seal) -> list[str]:
    """What the certificate `data` states otherwise than the one made again now, from
    the readings and closings known when it was issued."""
    target = scope.of_sensor(_fleet(settings), seal.sensor)
    issued = certificate.issued_at(data)
    shipped, checks = certificate.stated(data)
    judged, closings, limit_points = _read(settings, target, seal.start, seal.end)
    again = certificate.build(
        target,
        seal.start,
        seal.end,
        [sample for sample in judged.samples if sample.ts <= issued],
        shipped,
        issued,
        [closing for closing in closings if closing.closed_at <= issued],
        [event for event in judged.events if event.ts <= issued],
        checks,
        limit_points,
    )
    stated = {field: value for field, value in data.items() if field != "signature"}
    made = certificate.as_version(certificate.to_json(again), stated["version"])
    if "limit_periods" not in stated:
        del made["limit_periods"]  # issued before certificates listed them; its signature holds
    return certificate.differences(stated, made)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn our errors into a message on stderr and exit status 2."""
    try:
        yield
    except NotVerified as exc:
        typer.echo(f"not verified: {exc}")
        raise typer.Exit(1) from None
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _checks(
    settings: ReportSettings, given: Path | None, target: scope.Scope
) -> list[calibration.Calibration]:
    """The target's checks, oldest first, from --calibration or the settings' file."""
    records = given or settings.calibration
    if records is None:
        return []
    return calibration.load(records).get(target.sensor.id, [])


def _fleet(settings: ReportSettings) -> Fleet:
    try:
        text = settings.fleet.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the fleet file {settings.fleet} ({exc.strerror}); "
            "set COLDCHAIN_REPORT_FLEET or run from the repository's root"
        ) from None
    try:
        return Fleet.from_yaml(text)
    except FleetConfigError as exc:
        raise InvalidInput(f"{settings.fleet}: {exc}") from None


def _read(
    settings: ReportSettings, target: scope.Scope, start: datetime, end: datetime
) -> tuple[Judged, list[ClosedAlert], list[LimitPoint]]:
    """The target's readings and events that give [start, end) its numbers (those around
    it included, as compliance.judged_readings asks), the closings of its alerts since
    start, and the fleet registry's limits of its asset over [start, end)."""
    asset, sensor = target.asset.id, target.sensor.id
    with _readings(settings) as readings:
        judged = judged_readings(
            readings.sensor(asset, sensor, target.asset_sensors),
            start,
            end,
            target.sensor.interval_s,
            [target.alarm_band, target.legal_band],
            target.rules,
        )
        closings = readings.closings(asset, sensor, start)
        return judged, closings, readings.limit_points(asset, start, end)


def _readings(settings: ReportSettings) -> Readings:
    return Readings(settings.influx(InfluxHttp, 30.0), chunk_size=settings.influx_chunk_size)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} {text!r} is not a date; write YYYY-MM-DD") from None


def _moment(text: str, timezone: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not a time; write e.g. 2025-06-02T08:15 or 2025-06-02T06:15:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


def _csv_bytes(rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=report.CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def _now() -> datetime:
    return datetime.now(UTC)


def main() -> None:
    app()
