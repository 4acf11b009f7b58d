"""The temperature plot of a report: readings over local time, limit lines, excursions shaded.

Drawn with matplotlib's object API (no pyplot, no display) and returned as SVG whose
texts stay text, so that the PDF's axis labels can be read, searched and checked
(pdftotext). The time axis is linear in UTC with ticks at round local times: a
23 h or 25 h day shows its missing or extra hour between two ticks.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.ticker as mticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from coldchain.compliance import Excursion, Sample
from coldchain_reports.labels import Labels
from coldchain_reports.scope import Scope

#: A pause longer than this many reporting intervals breaks the line: a gap shows as a gap.
GAP_INTERVALS = 2.0
LEGAL = "#c0392b"
ALARM = "#e67e22"
LOW = "#2471a3"
LINE = "#1b2631"


def temperature_svg(
    scope: Scope,
    samples: Sequence[Sample],
    excursions: Sequence[Excursion],
    start: datetime,
    end: datetime,
    labels: Labels,
    size_in: tuple[float, float] = (7.0, 3.1),
) -> bytes:
    # Texts stay text in the SVG, in the PDF's own font; a plain hyphen for minus.
    with mpl.rc_context(
        {"svg.fonttype": "none", "font.family": "DejaVu Sans", "axes.unicode_minus": False}
    ):
        figure = draw(scope, samples, excursions, start, end, labels, size_in)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0.05)
    return buffer.getvalue()


def draw(
    scope: Scope,
    samples: Sequence[Sample],
    excursions: Sequence[Excursion],
    start: datetime,
    end: datetime,
    labels: Labels,
    size_in: tuple[float, float] = (7.0, 3.1),
) -> Figure:
    """The plot of the readings from `start` to `end` with the limits and `excursions`."""
    figure = Figure(figsize=size_in)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times, temps = _with_gaps(samples, scope.sensor.interval_s * GAP_INTERVALS)
    axes.plot(
        [_x(moment) for moment in times],
        temps,
        color=LINE,
        linewidth=0.8,
        label=labels("plot_readings", sensor=scope.sensor.id),
    )
    for excursion in excursions:
        axes.axvspan(_x(excursion.start), _x(excursion.end), color=LEGAL, alpha=0.15, linewidth=0)
    if excursions:
        axes.fill_between([], [], color=LEGAL, alpha=0.15, label=labels("plot_excursion"))
    _limit_lines(axes, scope, labels)
    axes.set_xlim(_x(start), _x(end))
    _time_axis(axes, end - start, ZoneInfo(scope.timezone), labels)
    _celsius_axis(axes)
    axes.set_ylabel(labels("plot_temp"), fontsize=8)
    axes.set_xlabel(labels("plot_time", tz=scope.timezone), fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(color="#d5d8dc", linewidth=0.5)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    longest = max(len(text) for text in axes.get_legend_handles_labels()[1])
    axes.legend(
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.32),
        ncol=3 if longest <= 36 else 2,
        frameon=False,
    )
    figure.tight_layout()
    return figure


def _time_axis(axes: Axes, span: timedelta, zone: ZoneInfo, labels: Labels) -> None:
    """Ticks at round local times: every 3 h for a day, each midnight for a week."""
    german = labels.language == "de"
    major: mdates.DateLocator
    if span > timedelta(days=3):
        major = mdates.DayLocator(tz=zone)  # type: ignore[no-untyped-call]
        axes.xaxis.set_minor_locator(mdates.HourLocator(byhour=[6, 12, 18], tz=zone))  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_formatter(_DayFormatter(zone, labels))
    else:
        if span > timedelta(hours=36):
            major = mdates.HourLocator(byhour=range(0, 24, 6), tz=zone)  # type: ignore[no-untyped-call]
            form = "%d.%m.\n%H:%M" if german else "%m-%d\n%H:%M"
        elif span > timedelta(hours=6):
            major = mdates.HourLocator(byhour=range(0, 24, 3), tz=zone)  # type: ignore[no-untyped-call]
            form = "%H:%M"
        else:
            major = mdates.AutoDateLocator(tz=zone, minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
            form = "%H:%M"
        axes.xaxis.set_major_formatter(mdates.DateFormatter(form, tz=zone))  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(major)


class _DayFormatter(mticker.Formatter):
    """A day tick as weekday and date: `Mo 20.10.`, `Mon 10-20`."""

    def __init__(self, zone: ZoneInfo, labels: Labels) -> None:
        self.zone, self.labels = zone, labels

    def __call__(self, x: float, pos: int | None = None) -> str:
        day = mdates.num2date(x, tz=self.zone)  # type: ignore[no-untyped-call]
        weekday = self.labels("weekdays").split()[day.weekday()]
        return (
            f"{weekday} {day:%d.%m.}" if self.labels.language == "de" else f"{weekday} {day:%m-%d}"
        )


def _celsius_axis(axes: Axes) -> None:
    """A tick each 1, 2 or 5 K, whichever gives at most 12 over the axis."""
    bottom, top = axes.get_ylim()
    step = next((s for s in (1.0, 2.0, 5.0, 10.0) if (top - bottom) / s <= 12), 20.0)
    axes.yaxis.set_major_locator(mticker.MultipleLocator(step))
    axes.yaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))


def _x(moment: datetime) -> float:
    """A moment as matplotlib's date number (days since its epoch)."""
    return float(mdates.date2num(moment))  # type: ignore[no-untyped-call]


def _limit_lines(axes: Axes, scope: Scope, labels: Labels) -> None:
    limits = scope.limits
    legal = f"{labels('legal_max')} {labels.temperature(limits.regulatory_max_c)}"
    if limits.max_c == limits.regulatory_max_c:
        legal = f"{legal} = {labels('alarm_max')}"
    axes.axhline(limits.regulatory_max_c, color=LEGAL, linewidth=1.2, label=legal)
    if limits.max_c is not None and limits.max_c != limits.regulatory_max_c:
        axes.axhline(
            limits.max_c,
            color=ALARM,
            linewidth=1.0,
            linestyle="--",
            label=f"{labels('alarm_max')} {labels.temperature(limits.max_c)}",
        )
    if limits.min_c is not None:
        axes.axhline(
            limits.min_c,
            color=LOW,
            linewidth=1.0,
            linestyle="--",
            label=f"{labels('alarm_min')} {labels.temperature(limits.min_c)}",
        )


def _with_gaps(samples: Sequence[Sample], gap_s: float) -> tuple[list[datetime], list[float]]:
    """The readings' times and values, with a NaN wherever readings pause longer than `gap_s`."""
    times: list[datetime] = []
    temps: list[float] = []
    gap = timedelta(seconds=gap_s)
    for sample in samples:
        if times and sample.ts - times[-1] > gap:
            times.append(times[-1] + (sample.ts - times[-1]) / 2)
            temps.append(float("nan"))
        times.append(sample.ts)
        temps.append(sample.temp_c)
    return times, temps
