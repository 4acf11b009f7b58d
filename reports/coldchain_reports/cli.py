"""`coldchain-report`: compliance reports, delivery certificates, and their verification.

Settings come from COLDCHAIN_REPORT_* environment variables (or --env-file);
see docs/compliance.md.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from coldchain.compliance import Judged, judged_readings
from coldchain.corrective import Closing
from coldchain.errors import FleetConfigError
from coldchain.fleet import Fleet
from coldchain_reports import calibration, certificate, delivery, pdf, report, scope
from coldchain_reports.errors import EditedCertificate, InvalidInput, ReportError
from coldchain_reports.labels import Labels
from coldchain_reports.readings import Readings
from coldchain_reports.seal import Seal, utc_text
from coldchain_reports.settings import ReportSettings

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


class Language(StrEnum):
    DE = "de"
    EN = "en"


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
    lang: Lang = Language.DE,
    out_dir: OutDir = Path(),
    calibration_file: CalibrationFile = None,
    env_file: EnvFile = None,
) -> None:
    """A PDF, a CSV and a JSON file for one asset over local days [--from, --to)."""
    with _errors():
        settings = ReportSettings(_env_file=env_file)
        target = scope.of_asset(_fleet(settings), asset, sensor)
        first_day = _day(from_day, "--from")
        end_day = _day(to_day, "--to") if to_day else first_day + timedelta(days=1)
        last_day = end_day - timedelta(days=1)
        start, end = report.period_bounds(first_day, last_day, target.timezone)
        judged, closings = _read(settings, target, start, end)
        result = report.build(
            target,
            first_day,
            last_day,
            judged.samples,
            _calibration(settings, calibration_file, target, last_day),
            closings,
            judged.events,
        )
        days = f"{first_day}" if first_day == last_day else f"{first_day}_{last_day}"
        stem = out_dir / f"report_{asset}_{days}"
        pdf_path, csv_path = Path(f"{stem}_{lang.value}.pdf"), Path(f"{stem}.csv")
        json_path = Path(f"{stem}.json")
        out_dir.mkdir(parents=True, exist_ok=True)
        pdf.render_report(result, Labels(lang.value, target.timezone), pdf_path)
        _write_csv(csv_path, report.csv_rows(result))
        data = json.dumps(report.to_json(result), indent=2, ensure_ascii=False)
        json_path.write_text(data + "\n", encoding="utf-8")
        typer.echo(f"{pdf_path}\n{csv_path}\n{json_path}")
        typer.echo(
            f"{result.alarm.samples} readings, coverage {result.alarm.coverage_pct:.2f} %, "
            f"{len(result.alarm.excursions)} excursions, "
            f"{len(result.alarm.short_deviations)} short deviations, "
            f"sha256 {result.seal.digest}",
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
    lang: Lang = Language.DE,
    out_dir: OutDir = Path(),
    calibration_file: CalibrationFile = None,
    env_file: EnvFile = None,
) -> None:
    """A PDF and a JSON certificate for one delivery: a compartment from loading to hand-over."""
    with _errors():
        shipped = delivery.load(delivery_file)
        settings = ReportSettings(_env_file=env_file)
        target = scope.of_sensor(_fleet(settings), sensor)
        start = _moment(loading, target.timezone, "--from")
        end = _moment(handover, target.timezone, "--to")
        certificate.check_interval(start, end)
        judged, closings = _read(settings, target, start, end)
        handover_day = end.astimezone(ZoneInfo(target.timezone)).date()
        result = certificate.build(
            target,
            start,
            end,
            judged.samples,
            shipped,
            datetime.now(UTC),
            closings,
            judged.events,
            _calibration(settings, calibration_file, target, handover_day),
        )
        local = start.astimezone(ZoneInfo(target.timezone))
        stem = out_dir / f"certificate_{sensor}_{local:%Y-%m-%d_%H%M%S}"
        pdf_path, json_path = Path(f"{stem}_{lang.value}.pdf"), Path(f"{stem}.json")
        out_dir.mkdir(parents=True, exist_ok=True)
        pdf.render_certificate(result, Labels(lang.value, target.timezone), pdf_path)
        data = json.dumps(certificate.to_json(result), indent=2, ensure_ascii=False)
        json_path.write_text(data + "\n", encoding="utf-8")
        typer.echo(f"{pdf_path}\n{json_path}")


@app.command("verify")
def verify_command(
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
    """Read the readings again and say whether they still match (exit 0) or not (1).

    A certificate is also made again from the readings and closings known when it was
    issued and the fleet file: every number, limit and action it states must agree.
    """
    with _errors():
        if (certificate_file is None) == (seal_text is None):
            raise InvalidInput("give either --certificate FILE or --seal TEXT")
        data = None if certificate_file is None else _certificate(certificate_file)
        try:
            seal = Seal.parse(str(seal_text)) if data is None else certificate.seal_of(data)
        except EditedCertificate as exc:
            typer.echo(f"does not match: {exc}")
            raise typer.Exit(1) from None
        settings = ReportSettings(_env_file=env_file)
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
    shipped, check = certificate.stated(data)
    judged, closings = _read(settings, target, seal.start, seal.end)
    again = certificate.build(
        target,
        seal.start,
        seal.end,
        [sample for sample in judged.samples if sample.ts <= issued],
        shipped,
        issued,
        [closing for closing in closings if closing.closed_at <= issued],
        [event for event in judged.events if event.ts <= issued],
        check,
    )
    return certificate.differences(data, certificate.to_json(again))


@contextmanager
def _errors() -> Iterator[None]:
    """Turn our errors into a message on stderr and exit status 2."""
    try:
        yield
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _calibration(
    settings: ReportSettings, given: Path | None, target: scope.Scope, day: date
) -> calibration.Calibration | None:
    """The target's check in force on `day`, from --calibration or the settings' file."""
    records = given or settings.calibration
    if records is None:
        return None
    return calibration.in_force(calibration.load(records).get(target.sensor.id, []), day)


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
) -> tuple[Judged, list[Closing]]:
    """The target's readings and events that give [start, end) its numbers (those around
    it included, as compliance.judged_readings asks), and the closings of its alerts
    since start."""
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
        return judged, readings.closings(asset, sensor, start)


def _readings(settings: ReportSettings) -> Readings:
    return Readings(
        settings.influx_url,
        settings.influx_db,
        settings.influx_username,
        settings.influx_password,
        settings.influx_token,
        chunk_size=settings.influx_chunk_size,
    )


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


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=report.CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    app()
