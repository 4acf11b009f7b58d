"""PDF rendering of reports and certificates with reportlab.

Fonts are DejaVu Sans from matplotlib's own data, embedded in the PDF, so the
text (umlauts, °, ·) is the same on every machine and stays extractable
(`pdftotext`). Layout only: every value arrives computed in an AssetReport or
a Certificate. Each PDF is written with `signed_pdf.Info`, the signed JSON
document and room for the file's signature, which `signed_pdf.sign` then fills.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import qrcode  # type: ignore[import-untyped]
from matplotlib import get_data_path
from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Image,
    KeepTogether,
    Paragraph,
    Preformatted,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from svglib import fonts as svg_fonts
from svglib.svglib import svg2rlg

from coldchain.compliance import Deviation, Excursion, PeriodStats
from coldchain.corrective import ClosedAlert
from coldchain.signatures import utc_text
from coldchain_reports import conventions
from coldchain_reports.calibration import Calibration, flaws
from coldchain_reports.certificate import Certificate
from coldchain_reports.labels import NOT_AVAILABLE, Labels
from coldchain_reports.limit_periods import LimitPeriod
from coldchain_reports.plot import temperature_svg
from coldchain_reports.report import AssetReport
from coldchain_reports.scope import Scope
from coldchain_reports.seal import Seal
from coldchain_reports.signed_pdf import Info

MARGIN = 18 * mm
#: SimpleDocTemplate pads its frame by 6 pt on each side: text starts at INSET.
INSET = MARGIN + 6
WIDTH = A4[0] - 2 * INSET
LABEL_WIDTH = 52 * mm
INK = colors.HexColor("#1b2631")
MUTED = colors.HexColor("#5d6d7e")
RULE = colors.HexColor("#aab7b8")
SHADE = colors.HexColor("#eef2f4")
ACCENT = colors.HexColor("#1f618d")
WARN = colors.HexColor("#c0392b")
GOOD = colors.HexColor("#1e8449")

_FONTS = {
    "Sans": "DejaVuSans.ttf",
    "Sans-Bold": "DejaVuSans-Bold.ttf",
    "Mono": "DejaVuSansMono.ttf",
}


def _register_fonts() -> None:
    folder = Path(get_data_path()) / "fonts" / "ttf"
    for name, file in _FONTS.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    # The plots' texts (plot.py) are set in the same font.
    svg_fonts.register_font("DejaVu Sans", rlgFontName="Sans")


def _style(name: str, **options: Any) -> ParagraphStyle:
    base = {"fontName": "Sans", "fontSize": 9, "leading": 12, "textColor": INK}
    return ParagraphStyle(name, **(base | options))


TITLE = _style("title", fontName="Sans-Bold", fontSize=17, leading=21)
SUBTITLE = _style("subtitle", fontSize=11, leading=14, textColor=MUTED)
HEADING = _style(
    "heading",
    fontName="Sans-Bold",
    fontSize=11,
    leading=14,
    spaceBefore=9,
    spaceAfter=4,
    textColor=ACCENT,
)
BODY = _style("body")
SMALL = _style("small", fontSize=7.5, leading=9.5, textColor=MUTED)
CELL = _style("cell", fontSize=8, leading=10)
CELL_BOLD = _style("cell_bold", fontName="Sans-Bold", fontSize=8, leading=10)
CELL_RIGHT = _style("cell_right", fontSize=8, leading=10, alignment=TA_RIGHT)
HEAD_RIGHT = _style("head_right", fontName="Sans-Bold", fontSize=7.5, leading=9, alignment=TA_RIGHT)
HEAD = _style("head", fontName="Sans-Bold", fontSize=7.5, leading=9)
MONO = _style("mono", fontName="Mono", fontSize=7.5, leading=9.5)


def render_report(report: AssetReport, labels: Labels, path: Path, info: Info) -> None:
    """Write the period report of one asset as a PDF to `path`, to be signed."""
    _register_fonts()
    scope, alarm, legal = report.scope, report.alarm, report.legal
    period = labels.day(report.first_day)
    if report.last_day != report.first_day:
        period += f" – {labels.day(report.last_day)}"
    story: list[Any] = [
        *_title(labels("report_title"), _asset_name(scope, labels), scope.site.name),
        *_preliminary(report.preliminary, report.issued_at, alarm.end, labels),
        _facts(
            [
                (labels("asset"), f"{_asset_name(scope, labels)} ({scope.asset.id})"),
                (labels("category"), _category(scope, labels)),
                (
                    labels("sensor"),
                    f"{scope.sensor.id}, {labels('interval')} "
                    f"{labels.number(scope.sensor.interval_s, 0)} s",
                ),
                (
                    labels("period"),
                    f"{period} ({labels.days(len(report.days))}); "
                    f"{labels('times_in', tz=scope.timezone)}",
                ),
                (labels("legal_max"), labels.temperature(scope.limits.regulatory_max_c)),
                (labels("alarm_limits"), _alarm_limits(scope, labels)),
            ]
        ),
        *_limit_periods(report.limit_periods, labels),
        Paragraph(labels("summary"), HEADING),
        _summary(alarm, legal, labels),
        Spacer(1, 4 * mm),
        Paragraph(labels("plot_title"), HEADING),
        _svg(
            temperature_svg(scope, report.samples, report.listed, alarm.start, alarm.end, labels),
            WIDTH,
        ),
        Paragraph(labels("days_title"), HEADING),
        *_days_tables(report, labels),
        Paragraph(labels("excursions_title"), HEADING),
        *_excursions(
            [(e, _report_notes(report, e, labels)) for e in report.listed],
            report.actions,
            labels,
            seconds=False,
        ),
        Paragraph(labels("deviations_title"), HEADING),
        *_deviations(alarm.short_deviations, scope, labels, seconds=False),
        KeepTogether(
            [
                Paragraph(labels("calibration_title"), HEADING),
                Paragraph(
                    escape(_calibration_text(report.calibration, report.last_day, labels)),
                    BODY,
                ),
            ]
        ),
        *_conventions(conventions.texts(scope, report.day_lengths, labels), labels),
        KeepTogether(_digest(report.seal, alarm.samples, labels, not report.preliminary)),
        KeepTogether(_signature(info, labels)),
    ]
    footer = f"{labels('report_title')} {scope.asset.id}, {period}"
    title = f"{labels('report_title')} {scope.asset.id} {period}"
    _build(path, story, labels, footer, title, report.issued_at, info, report.preliminary)


def render_certificate(certificate: Certificate, labels: Labels, path: Path, info: Info) -> None:
    """Write a delivery certificate as a one- or two-page PDF with its QR code to `path`,
    to be signed; a preliminary one has no QR code, as it has no seal."""
    _register_fonts()
    scope, stats = certificate.scope, certificate.stats
    duration = labels.duration((certificate.end - certificate.start).total_seconds())
    facts = [
        *_delivery_facts(certificate, labels),
        (labels("compartment"), f"{_asset_name(scope, labels)} ({scope.asset.id})"),
        (
            labels("sensor"),
            f"{scope.sensor.id}, {labels('interval')} "
            f"{labels.number(scope.sensor.interval_s, 0)} s",
        ),
        (
            labels("probe_calibration"),
            _calibration_text(certificate.calibration, certificate.handover_day, labels)
            + _unverified_text(certificate, labels),
        ),
        (labels("category"), _category(scope, labels)),
        (labels("loading"), labels.time(certificate.start, seconds=True)),
        (labels("handover"), labels.time(certificate.end, seconds=True)),
        (labels("duration"), duration),
        (labels("legal_max"), labels.temperature(scope.limits.regulatory_max_c)),
        (labels("alarm_limits"), _alarm_limits(scope, labels)),
    ]
    rows: list[tuple[str, str]] = [
        (labels("readings"), str(stats.samples)),
        (labels("coverage"), labels.percent(stats.coverage_pct)),
        (labels("minimum"), labels.temperature(stats.min_c)),
        (labels("maximum"), labels.temperature(stats.max_c)),
        (labels("mean"), labels.temperature(stats.mean_c)),
        (labels("mkt"), labels.temperature(stats.mkt_c)),
    ]
    names = {
        "max_c": "above_alarm_max",
        "min_c": "below_alarm_min",
        "regulatory_max_c": "above_legal",
    }
    for limit in certificate.limits:
        rows.append(
            (
                f"{labels(names[limit.name])} ({labels.temperature(limit.limit_c)})",
                f"{labels.duration(limit.stats.excursion_s)} · "
                f"{labels.degree_minutes(limit.stats.degree_minutes)}",
            )
        )
    qr = (
        [
            Paragraph(escape(labels("preliminary")), _style("flag", fontName="Sans-Bold")),
            Paragraph(escape(labels("preliminary_no_seal")), SMALL),
        ]
        if certificate.preliminary
        else [
            _png(_qr_png(certificate.seal.text()), 46 * mm),
            Paragraph(escape(labels("qr_caption")), SMALL),
        ]
    )
    numbers = Table(
        [[Paragraph(escape(k), CELL), Paragraph(escape(v), CELL_RIGHT)] for k, v in rows],
        colWidths=[WIDTH - 58 * mm - 40 * mm, 40 * mm],
    )
    numbers.setStyle(_grid_style(header=False))
    beside = Table(
        [[numbers, qr]],
        colWidths=[WIDTH - 52 * mm, 52 * mm],
    )
    beside.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (0, 0), 6 * mm),
            ]
        )
    )
    story: list[Any] = [
        *_title(labels("certificate_title"), _asset_name(scope, labels), scope.site.name),
        *_preliminary(certificate.preliminary, certificate.issued_at, certificate.end, labels),
        _facts(facts),
        Spacer(1, 3 * mm),
        _result(certificate, labels),
        Spacer(1, 3 * mm),
        beside,
        Spacer(1, 2 * mm),
        _svg(
            temperature_svg(
                scope,
                certificate.samples,
                [*stats.carried, *stats.excursions],
                certificate.start,
                certificate.end,
                labels,
                size_in=(7.0, 2.6),
            ),
            WIDTH,
        ),
        Paragraph(labels("excursions_title"), HEADING),
        *_excursions(
            [
                (e, _carried_note(certificate, e, labels))
                for e in [*stats.carried, *stats.excursions]
            ],
            certificate.actions,
            labels,
            seconds=True,
        ),
        Paragraph(labels("deviations_title"), HEADING),
        *_deviations(stats.short_deviations, scope, labels, seconds=True),
        *_limit_periods(certificate.limit_periods, labels),
        *_conventions(conventions.texts(scope, [], labels), labels),
        KeepTogether(_digest(certificate.seal, stats.samples, labels, not certificate.preliminary)),
        KeepTogether(_signature(info, labels)),
    ]
    footer = f"{labels('certificate_title')} {scope.sensor.id}, {labels.time(certificate.start)}"
    _build(
        path, story, labels, footer, footer, certificate.issued_at, info, certificate.preliminary
    )


def _delivery_facts(certificate: Certificate, labels: Labels) -> list[tuple[str, str]]:
    """Who sent what to whom in which vehicle, and who answers for it."""
    shipped, site, gateway = certificate.delivery, certificate.scope.site, certificate.scope.gateway
    goods = [
        ", ".join(
            [item.description]
            + ([item.quantity] if item.quantity else [])
            + ([labels("lot", lot=item.lot)] if item.lot else [])
        )
        for item in shipped.goods
    ]
    if not gateway.mobile:
        vehicle = labels("vehicle_none", gateway=gateway.id)
    elif gateway.plate is None:
        vehicle = labels("vehicle_no_plate", gateway=gateway.id)
    else:
        vehicle = labels("vehicle_plate", plate=gateway.plate, gateway=gateway.id)
    facts = [(labels("delivery_note"), shipped.delivery_note or NOT_AVAILABLE)]
    if shipped.tour:
        facts.append((labels("tour"), shipped.tour))
    return [
        *facts,
        (labels("sender"), _party(site.name, site.address)),
        (labels("receiver"), _party(shipped.receiver.name, shipped.receiver.address)),
        (labels("goods"), "\n".join(goods)),
        (labels("vehicle"), vehicle),
        (labels("responsible"), f"{shipped.responsible.name}, {shipped.responsible.role}"),
    ]


def _party(name: str, address: str | None) -> str:
    return f"{name}, {address}" if address else name


def _title(title: str, subject: str, site: str) -> list[Any]:
    return [
        Paragraph(escape(title), TITLE),
        Paragraph(f"{escape(subject)} · {escape(site)}", SUBTITLE),
        Spacer(1, 2 * mm),
        _rule(),
        Spacer(1, 3 * mm),
    ]


def _preliminary(
    preliminary: bool, issued_at: datetime, end: datetime, labels: Labels
) -> list[Any]:
    """A framed warning under the title of a document issued before its period ended."""
    if not preliminary:
        return []
    text = labels("preliminary_text", issued=labels.time(issued_at), end=labels.time(end))
    box = Table(
        [[Paragraph(escape(labels("preliminary")), CELL_BOLD), Paragraph(escape(text), CELL)]],
        colWidths=[LABEL_WIDTH, WIDTH - LABEL_WIDTH],
    )
    box.setStyle(
        TableStyle([("BOX", (0, 0), (-1, -1), 1.2, WARN), ("VALIGN", (0, 0), (-1, -1), "TOP")])
    )
    return [box, Spacer(1, 3 * mm)]


def _rule() -> Table:
    line = Table([[""]], colWidths=[WIDTH], rowHeights=[1])
    line.setStyle(TableStyle([("LINEABOVE", (0, 0), (-1, -1), 1.2, ACCENT)]))
    return line


def _facts(pairs: Sequence[tuple[str, str]]) -> Table:
    table = Table(
        [[Paragraph(escape(k), CELL_BOLD), Paragraph(_lines(v), CELL)] for k, v in pairs],
        colWidths=[LABEL_WIDTH, WIDTH - LABEL_WIDTH],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def _summary(alarm: PeriodStats, legal: PeriodStats, labels: Labels) -> Table:
    """Readings and temperatures on the left; time and degree-minutes per limit on the right."""
    facts = [
        (labels("readings"), str(alarm.samples)),
        (labels("coverage"), labels.percent(alarm.coverage_pct)),
        (labels("minimum"), labels.temperature(alarm.min_c)),
        (labels("maximum"), labels.temperature(alarm.max_c)),
        (labels("mean"), labels.temperature(alarm.mean_c)),
        (labels("mkt"), labels.temperature(alarm.mkt_c)),
    ]
    left = Table(
        [[Paragraph(escape(k), CELL), Paragraph(escape(v), CELL_RIGHT)] for k, v in facts],
        colWidths=[58 * mm, 22 * mm],
    )
    left.setStyle(_grid_style(header=False))
    rows = [
        ["", labels("against_alarm"), labels("against_legal")],
        [
            labels("time_within"),
            labels.percent(alarm.time_in_range_pct),
            labels.percent(legal.time_in_range_pct),
        ],
        [
            labels("time_beyond"),
            labels.duration(alarm.excursion_s),
            labels.duration(legal.excursion_s),
        ],
        [
            labels("degree_minutes"),
            labels.degree_minutes(alarm.degree_minutes),
            labels.degree_minutes(legal.degree_minutes),
        ],
        [labels("excursions"), str(len(alarm.excursions)), str(len(legal.excursions))],
        [
            labels("short_deviations"),
            str(len(alarm.short_deviations)),
            str(len(legal.short_deviations)),
        ],
    ]
    right = Table(
        [
            [Paragraph(escape(rows[0][0]), HEAD)]
            + [Paragraph(escape(h), HEAD_RIGHT) for h in rows[0][1:]]
        ]
        + [
            [Paragraph(escape(r[0]), CELL)] + [Paragraph(escape(c), CELL_RIGHT) for c in r[1:]]
            for r in rows[1:]
        ],
        colWidths=[36 * mm, 26 * mm, 26 * mm],
    )
    right.setStyle(_grid_style(header=True))
    both = Table([[left, right]], colWidths=[WIDTH - 88 * mm, 88 * mm])
    both.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return both


def _days_tables(report: AssetReport, labels: Labels) -> list[Any]:
    """Two tables per local day: its length, readings and temperatures; then its time and
    degree-minutes beyond the limits, excursions (counted on the day they start), short
    deviations and whether the probe was verified, with its readings taken while not;
    a note with their number when there are any."""
    temperatures = [
        labels("day"),
        labels("col_days_hours"),
        labels("col_readings"),
        labels("col_coverage"),
        labels("col_min"),
        labels("col_max"),
        labels("col_mean"),
        labels("mkt_short"),
    ]
    limits = [
        labels("day"),
        labels("col_in_range"),
        labels("col_beyond_alarm"),
        labels("col_km"),
        labels("col_excursions"),
        labels("col_short"),
        labels("col_above_legal"),
        labels("col_calibration"),
    ]
    first = [
        [
            labels.weekday(day.day),
            labels.number(day.alarm.duration_s / 3600, 0),
            str(day.alarm.samples),
            labels.percent(day.alarm.coverage_pct),
            labels.temperature(day.alarm.min_c),
            labels.temperature(day.alarm.max_c),
            labels.temperature(day.alarm.mean_c),
            labels.temperature(day.alarm.mkt_c),
        ]
        for day in report.days
    ]
    second = [
        [
            labels.weekday(day.day),
            labels.percent(day.alarm.time_in_range_pct),
            labels.duration(day.alarm.excursion_s),
            labels.number(day.alarm.degree_minutes, 1),
            str(len(day.alarm.excursions)),
            str(len(day.alarm.short_deviations)),
            labels.duration(day.legal.excursion_s),
            labels(f"day_{day.calibration.label}", readings=day.calibration.readings),
        ]
        for day in report.days
    ]
    unverified = sum(day.calibration.readings for day in report.days)
    note = labels("unverified_note", readings=unverified)
    return [
        _table(temperatures, first, right_from=1),
        Spacer(1, 2 * mm),
        _table(limits, second, right_from=1, text_from=len(limits) - 1),
        *([Paragraph(escape(note), BODY)] if unverified else []),
    ]


def _excursions(
    excursions: Sequence[tuple[Excursion, list[str]]],
    actions: Sequence[Sequence[ClosedAlert]],
    labels: Labels,
    seconds: bool,
) -> list[Any]:
    """The excursions beyond the alarm limits with the corrective actions and product
    decisions of the alert closings that answer them; each one's notes (carried into the
    period, degree-minutes by day) under the table."""
    if not excursions:
        return [Paragraph(escape(labels("no_excursions")), BODY)]
    heads = [
        "#",
        labels("start"),
        labels("end"),
        labels("duration"),
        labels("peak"),
        labels("col_km"),
        labels("corrective_action"),
        labels("product_decision"),
    ]
    rows, footnotes = [], []
    for number, ((excursion, notes), closings) in enumerate(
        zip(excursions, actions, strict=True), 1
    ):
        end = _stacked(labels.time(excursion.end, seconds=seconds))
        footnotes += [f"{number}: {note}" for note in notes]
        rows.append(
            [
                str(number),
                _stacked(labels.time(excursion.start, seconds=seconds)),
                f"{labels('ongoing')}\n{end}" if excursion.ongoing else end,
                labels.duration(excursion.duration_s),
                labels.temperature(excursion.peak_c),
                labels.number(excursion.degree_minutes, 1),
                "\n\n".join(_action(c, labels) for c in closings) or labels("not_recorded"),
                "\n".join(labels.decision(c.product_decision) for c in closings)
                or labels("not_recorded"),
            ]
        )
    return [
        _table(heads, rows, right_from=len(heads) - 2, text_from=len(heads) - 2),
        Spacer(1, 1.5 * mm),
        *[Paragraph(escape(footnote), SMALL) for footnote in footnotes],
        Paragraph(escape(labels("actions_note")), SMALL),
    ]


def _report_notes(report: AssetReport, excursion: Excursion, labels: Labels) -> list[str]:
    """Notes on an excursion: where it counts if it began before the period, and its
    degree-minutes on each day when it spans several."""
    notes = []
    if excursion in report.alarm.carried:
        notes.append(labels("carried_from", day=labels.day(report.counted_on(excursion))))
    by_day = report.by_day(excursion)
    if len(by_day) > 1:
        parts = "; ".join(f"{labels.day(day)}: {labels.number(km, 1)}" for day, km in by_day)
        notes.append(labels("split_by_day", parts=f"{parts} K·min"))
    return notes


def _carried_note(certificate: Certificate, excursion: Excursion, labels: Labels) -> list[str]:
    """A note on an excursion that began before loading."""
    if excursion not in certificate.stats.carried:
        return []
    day = excursion.start.astimezone(ZoneInfo(certificate.scope.timezone)).date()
    return [labels("carried_from", day=labels.day(day))]


def _deviations(
    deviations: Sequence[Deviation], scope: Scope, labels: Labels, seconds: bool
) -> list[Any]:
    """The short deviations: beyond a limit, but not excursions, with the reason."""
    if not deviations:
        return [Paragraph(escape(labels("no_deviations")), BODY)]
    heads = [
        "#",
        labels("start"),
        labels("end"),
        labels("duration"),
        labels("peak"),
        labels("col_km"),
        labels("reason"),
    ]
    delay = labels.duration(scope.limits.delay_s)
    rows = [
        [
            str(number),
            _stacked(labels.time(deviation.start, seconds=seconds)),
            _stacked(labels.time(deviation.end, seconds=seconds)),
            labels.duration(deviation.duration_s),
            labels.temperature(deviation.peak_c),
            labels.number(deviation.degree_minutes, 1),
            labels(f"held_back_{deviation.held_back.value}", delay=delay)
            + (f" ({labels('ongoing')})" if deviation.ongoing else ""),
        ]
        for number, deviation in enumerate(deviations, 1)
    ]
    return [
        _table(heads, rows, right_from=3, text_from=len(heads) - 1),
        Spacer(1, 1.5 * mm),
        Paragraph(escape(labels("deviations_note")), SMALL),
    ]


def _limit_periods(found: Sequence[LimitPeriod], labels: Labels) -> list[Any]:
    """Which fleet registry version's limits applied when, who changed them and why."""
    title = Paragraph(labels("limit_periods_title"), HEADING)
    if not found:
        return [title, Paragraph(escape(labels("limit_periods_none")), BODY)]
    heads = [
        labels("col_version"),
        labels("start"),
        labels("end"),
        labels("col_alarm_max"),
        labels("col_alarm_min"),
        labels("col_delay"),
        labels("reason"),
    ]
    rows = [
        [
            str(period.limits.version),
            _stacked(labels.time(period.start)),
            _stacked(labels.time(period.end)),
            labels.temperature(period.limits.max_c),
            labels.temperature(period.limits.min_c),
            labels.duration(period.limits.delay_s) if period.limits.delay_s is not None else "–",
            f"{period.limits.reason or labels('none')}\n"
            f"{labels('changed_by')} {period.limits.changed_by}",
        ]
        for period in found
    ]
    return [
        title,
        _table(heads, rows, right_from=3, text_from=len(heads) - 1),
        Spacer(1, 1.5 * mm),
        Paragraph(escape(labels("limit_periods_note")), SMALL),
    ]


def _conventions(sentences: Sequence[str], labels: Labels) -> list[Any]:
    return [
        Paragraph(labels("conventions_title"), HEADING),
        *[Paragraph(f"• {escape(sentence)}", BODY) for sentence in sentences],
    ]


def _stacked(moment: str) -> str:
    """A local time as the date over the clock, to leave the width to the actions."""
    return moment.replace(" ", "\n", 1)


def _action(closing: ClosedAlert, labels: Labels) -> str:
    """A closing as lines: the corrective action, the cause, the comment, who closed it when."""
    lines = [closing.corrective_action or labels("none")]
    if closing.cause:
        lines.append(labels("cause", cause=closing.cause))
    if closing.comment:
        lines.append(f"„{closing.comment}“" if labels.language == "de" else f"“{closing.comment}”")
    lines.append(labels("closed_by", actor=closing.actor, at=labels.time(closing.closed_at)))
    return "\n".join(lines)


def _table(
    heads: list[str], rows: list[list[str]], right_from: int, text_from: int | None = None
) -> Table:
    """A grid with a header row; columns from `right_from` on are right-aligned, except the
    free-text columns from `text_from` on. A newline in a cell breaks the line.

    Each column gets the width of its widest cell and its head's longest word, and
    the page's remaining width is shared out evenly. Free-text columns instead share
    what the others leave: each at least its longest word, the rest in proportion to
    how much more their text needs; their text wraps.
    """
    text_from = len(heads) if text_from is None else text_from
    needed = [_width(head, [row[i] for row in rows], whole=True) for i, head in enumerate(heads)]
    fixed, texts = needed[:text_from], needed[text_from:]
    shortest = [_width(head, [row[i] for row in rows], whole=False) for i, head in
                enumerate(heads)][text_from:]  # fmt: skip
    free = WIDTH - sum(fixed)
    if texts and free >= sum(texts):
        fixed = [w + (free - sum(texts)) / len(needed) for w in fixed]
        free = WIDTH - sum(fixed)
    if texts and free >= sum(shortest):
        wants = [need - least for need, least in zip(texts, shortest, strict=True)]
        extra = free - sum(shortest)
        widths = fixed + [
            least + (extra * want / sum(wants) if sum(wants) else extra / len(texts))
            for least, want in zip(shortest, wants, strict=True)
        ]
    else:
        spare = (WIDTH - sum(needed)) / len(needed)
        widths = (
            [w + spare for w in needed] if spare >= 0 else [w * WIDTH / sum(needed) for w in needed]
        )

    def style(i: int) -> ParagraphStyle:
        return CELL_RIGHT if right_from <= i < text_from else CELL

    data: list[list[Any]] = [
        [_head(h, right=right_from <= i < text_from) for i, h in enumerate(heads)]
    ]
    data += [[Paragraph(_lines(c), style(i)) for i, c in enumerate(row)] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(_grid_style(header=True))
    return table


def _width(head: str, cells: list[str], whole: bool) -> float:
    """Width a column needs for its head's longest word and its cells' longest line
    (`whole`) or longest word."""
    words = [_text_width(word, HEAD) for word in head.split()]
    parts = [part for cell in cells for part in cell.split("\n")]
    if not whole:
        parts = [word for part in parts for word in part.split()]
    return max(*words, *(_text_width(part, CELL) for part in parts)) + 7


def _lines(text: str) -> str:
    return "<br/>".join(escape(line) for line in text.split("\n"))


def _head(text: str, right: bool = False) -> Paragraph:
    """A column head; a newline in the label is where it breaks."""
    return Paragraph(_lines(text), HEAD_RIGHT if right else HEAD)


def _text_width(text: str, style: ParagraphStyle) -> float:
    return float(pdfmetrics.stringWidth(text, style.fontName, style.fontSize))


def _unverified_text(certificate: Certificate, labels: Labels) -> str:
    """The readings the probe took while unverified during the delivery, from when."""
    marking = certificate.marking
    if not marking.readings:
        return ""
    since = labels.time(marking.spans[0][0], seconds=False)
    return "; " + labels("probe_unverified", readings=marking.readings, since=since)


def _calibration_text(calibration: Calibration | None, day: date, labels: Labels) -> str:
    """The check in force on `day`: verified, unverified and why, or unknown (never OK)."""
    if calibration is None:
        return labels("calibration_unknown")
    found = flaws(calibration, day)
    deviation = (
        labels("calibration_deviation_unknown")
        if calibration.deviation_k is None
        else labels(
            "calibration_deviation",
            kelvin=("+" if calibration.deviation_k > 0 else "")
            + labels.number(calibration.deviation_k, 1),
        )
    )
    return labels(
        "calibration_unverified" if found else "calibration_valid",
        reasons="; ".join(labels(f"calibration_flaw_{flaw.value}") for flaw in found),
        checked=labels.day(calibration.checked_on),
        deviation=deviation,
        due=labels.day(calibration.due_on),
        reference=calibration.reference,
    )


def _digest(seal: Seal, count: int, labels: Labels, sealed: bool) -> list[Any]:
    """The digest of the readings, and the command that checks it against the hub's
    database; a preliminary document (not `sealed`) says why it has none."""
    command = f"coldchain-report verify --seal '{seal.text(wrapped=True)}'"
    check = (
        Preformatted(command, MONO)
        if sealed
        else Paragraph(escape(labels("preliminary_no_seal")), BODY)
    )
    return [
        Paragraph(labels("digest_title"), HEADING),
        Paragraph(
            escape(
                labels(
                    "digest_text",
                    count=count,
                    sensor=seal.sensor,
                    start=utc_text(seal.start),
                    end=utc_text(seal.end),
                )
            ),
            BODY,
        ),
        Spacer(1, 1.5 * mm),
        Paragraph(f"SHA-256 <b>{seal.digest}</b>", MONO),
        Spacer(1, 1 * mm),
        check,
    ]


def _signature(info: Info, labels: Labels) -> list[Any]:
    return [
        Paragraph(labels("signature_title"), HEADING),
        Paragraph(escape(labels("signature_text", key_id=info.key_id)), BODY),
    ]


def _result(certificate: Certificate, labels: Labels) -> Table:
    legal = certificate.beyond("regulatory_max_c")
    above_s = legal.stats.excursion_s if legal else 0.0
    lines = [
        labels("result_exceeded", duration=labels.duration(above_s))
        if above_s > 0
        else labels("result_kept"),
        labels("result_coverage", coverage=labels.percent(certificate.stats.coverage_pct)),
    ]
    colour = WARN if above_s > 0 else GOOD
    table = Table(
        [
            [
                Paragraph(escape(labels("result")), CELL_BOLD),
                Paragraph("<br/>".join(escape(line) for line in lines), CELL_BOLD),
            ]
        ],
        colWidths=[LABEL_WIDTH, WIDTH - LABEL_WIDTH],
    )
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.2, colour),
                ("BACKGROUND", (0, 0), (-1, -1), SHADE),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ]
        )
    )
    return table


def _grid_style(header: bool) -> TableStyle:
    style = TableStyle(
        [
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
    )
    if header:
        style.add("BACKGROUND", (0, 0), (-1, 0), SHADE)
        style.add("LINEBELOW", (0, 0), (-1, 0), 0.8, INK)
    return style


def _png(data: bytes, width: float) -> Image:
    image = Image(io.BytesIO(data))
    image.drawHeight = width * image.imageHeight / image.imageWidth
    image.drawWidth = width
    return image


def _svg(data: bytes, width: float) -> Drawing:
    """An SVG as vector drawing `width` wide: its texts stay text in the PDF."""
    drawing = svg2rlg(io.BytesIO(data))
    if drawing is None:
        raise ValueError("the plot's SVG could not be read")
    scale = width / drawing.width
    drawing.scale(scale, scale)
    drawing.width, drawing.height = width, drawing.height * scale
    return drawing


def _qr_png(text: str) -> bytes:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=2)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()


def _asset_name(scope: Scope, labels: Labels) -> str:
    return str(getattr(scope.asset.name, labels.language))


def _category(scope: Scope, labels: Labels) -> str:
    preset = scope.asset.preset
    name = preset.name_de if labels.language == "de" else preset.name_en
    return f"{name} ({preset.source})"


def _alarm_limits(scope: Scope, labels: Labels) -> str:
    low, high = scope.limits.min_c, scope.limits.max_c
    return (
        f"{labels('alarm_min')}: {labels.temperature(low) if low is not None else labels('none')}"
        f"; {labels('alarm_max')}: "
        f"{labels.temperature(high) if high is not None else labels('none')}"
    )


def _build(
    path: Path,
    story: list[Any],
    labels: Labels,
    footer: str,
    title: str,
    issued_at: datetime,
    info: Info,
    preliminary: bool,
) -> None:
    generated = labels("generated", at=labels.time(issued_at))
    if preliminary:
        footer = f"{labels('preliminary')} · {footer}"

    def canvas(*args: Any, **kwargs: Any) -> _NumberedCanvas:
        made = _NumberedCanvas(*args, footer=(footer, generated), labels=labels, **kwargs)
        made._doc.info = info
        return made

    document = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=title,
        author="coldchain-report",
        subject=title,
        lang=labels.language,
    )
    document.build(story, canvasmaker=canvas)


class _NumberedCanvas(Canvas):  # type: ignore[misc]
    """Holds pages back until the end, so each footer can say 'page x of y'."""

    def __init__(self, *args: Any, footer: tuple[str, str], labels: Labels, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._labels = labels
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for page in self._pages:
            self.__dict__.update(page)
            self._draw_footer(len(self._pages))
            super().showPage()
        super().save()

    def _draw_footer(self, pages: int) -> None:
        self.saveState()
        self.setStrokeColor(RULE)
        self.setLineWidth(0.5)
        self.line(INSET, 12 * mm, A4[0] - INSET, 12 * mm)
        self.setFont("Sans", 7)
        self.setFillColor(MUTED)
        self.drawString(INSET, 8.5 * mm, self._footer[0])
        self.drawString(INSET, 5.5 * mm, self._footer[1])
        self.drawRightString(
            A4[0] - INSET, 8.5 * mm, self._labels("page", page=self._pageNumber, pages=pages)
        )
        self.restoreState()
