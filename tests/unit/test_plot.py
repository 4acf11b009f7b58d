"""The temperature plot against positions worked out by hand: where the excursions are
shaded, where the local-time ticks fall on 24 h, 23 h and 25 h days and on a week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.axes import Axes

from coldchain.compliance import Excursion, Sample
from coldchain.fleet import Fleet
from coldchain_devstack.stack import DEMO_FLEET
from coldchain_reports import scope
from coldchain_reports.labels import Labels
from coldchain_reports.plot import draw, temperature_svg

ROOM = scope.of_asset(Fleet.from_yaml(DEMO_FLEET.read_text(encoding="utf-8")), "cold-room-1")


def _labels(language: str = "de") -> Labels:
    return Labels(language, "Europe/Berlin")  # type: ignore[arg-type]


def _readings(start: datetime, end: datetime) -> list[Sample]:
    count = int((end - start).total_seconds() // 600)
    return [Sample(start + timedelta(minutes=10 * i), 3.0 + i % 5 * 0.1) for i in range(count)]


def _excursion(start: datetime, end: datetime) -> Excursion:
    return Excursion(start=start, end=end, peak_c=8.2, degree_minutes=60.0)


def _axes(start: datetime, end: datetime, excursions: list[Excursion], lang: str = "de") -> Axes:
    figure = draw(ROOM, _readings(start, end), excursions, start, end, _labels(lang))
    figure.canvas.draw()
    [axes] = figure.axes
    return axes


def _fraction(axes: Axes, x: float) -> float:
    """An x in data units as a fraction of the axis' width."""
    left, right = axes.get_xlim()
    return (x - left) / (right - left)


def _ticks(axes: Axes) -> list[tuple[float, str]]:
    return [
        (round(_fraction(axes, tick.get_loc()), 5), tick.label1.get_text())
        for tick in axes.xaxis.get_major_ticks()
        if tick.label1.get_visible() and 0 <= _fraction(axes, tick.get_loc()) <= 1
    ]


def test_an_excursion_is_shaded_from_its_start_to_its_end() -> None:
    # 25 Oct 2025, a 24 h day: 00:00 CEST is 22:00 UTC the day before. The excursion
    # 12:00-12:45 UTC is 14:00-14:45 CEST: 14/24 and 14.75/24 of the width.
    start, end = datetime(2025, 10, 24, 22, tzinfo=UTC), datetime(2025, 10, 25, 22, tzinfo=UTC)
    excursion = _excursion(
        datetime(2025, 10, 25, 12, tzinfo=UTC), datetime(2025, 10, 25, 12, 45, tzinfo=UTC)
    )
    axes = _axes(start, end, [excursion])
    [shaded] = axes.patches
    xs = [x for x, _ in shaded.get_path().transformed(shaded.get_patch_transform()).vertices]
    assert round(_fraction(axes, min(xs)), 5) == round(14 / 24, 5)
    assert round(_fraction(axes, max(xs)), 5) == round(14.75 / 24, 5)


def test_a_24_hour_day_has_a_tick_every_three_hours() -> None:
    start, end = datetime(2025, 10, 24, 22, tzinfo=UTC), datetime(2025, 10, 25, 22, tzinfo=UTC)
    assert _ticks(_axes(start, end, [])) == [
        (round(hour / 24, 5), f"{hour % 24:02d}:00") for hour in range(0, 25, 3)
    ]


def test_the_25_hour_day_shows_its_extra_hour() -> None:
    # 26 Oct 2025: 00:00 CEST = 22:00 UTC (25 Oct); clocks go back at 03:00 CEST, so
    # 03:00 CET is 4 h after midnight and every later tick one hour later than on a
    # 24 h day: at (hour + 1) / 25 of the width.
    start, end = datetime(2025, 10, 25, 22, tzinfo=UTC), datetime(2025, 10, 26, 23, tzinfo=UTC)
    expected = [(0.0, "00:00")] + [
        (round((hour + 1) / 25, 5), f"{hour % 24:02d}:00") for hour in range(3, 25, 3)
    ]
    assert _ticks(_axes(start, end, [])) == expected


def test_the_23_hour_day_lacks_an_hour() -> None:
    # 29 Mar 2026: 00:00 CET = 23:00 UTC (28 Mar); at 02:00 CET clocks jump to 03:00
    # CEST, 2 h after midnight; later ticks come one hour early: (hour - 1) / 23.
    start, end = datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC)
    expected = [(0.0, "00:00")] + [
        (round((hour - 1) / 23, 5), f"{hour % 24:02d}:00") for hour in range(3, 25, 3)
    ]
    assert _ticks(_axes(start, end, [])) == expected


@pytest.mark.parametrize(("lang", "first"), [("de", "Mo 20.10."), ("en", "Mon 10-20")])
def test_a_week_long_delivery_has_a_tick_each_day(lang: str, first: str) -> None:
    # Monday 20 Oct 2025 00:00 CEST to Monday 27 Oct 00:00 CET: 7 days and one hour
    # (169 h); each local midnight is a tick, from the 26th one hour later than 24 h on.
    start, end = datetime(2025, 10, 19, 22, tzinfo=UTC), datetime(2025, 10, 26, 23, tzinfo=UTC)
    ticks = _ticks(_axes(start, end, [], lang))
    assert [fraction for fraction, _ in ticks] == [
        round(hours / 169, 5) for hours in (0, 24, 48, 72, 96, 120, 144, 169)
    ]
    assert ticks[0][1] == first
    assert len({text for _, text in ticks}) == 8


def test_the_svg_keeps_its_texts_as_text() -> None:
    start, end = datetime(2025, 10, 24, 22, tzinfo=UTC), datetime(2025, 10, 25, 22, tzinfo=UTC)
    svg = temperature_svg(ROOM, _readings(start, end), [], start, end, _labels()).decode()
    for text in ["Temperatur (°C)", "Ortszeit (Europe/Berlin)", ">15:00<", ">0<", ">6<"]:
        assert text in svg, text


def test_the_celsius_axis_shows_the_limits() -> None:
    # Cold room 1: alarm limits -1 °C and 6 °C (the legal maximum); a tick each 1 °C.
    start, end = datetime(2025, 10, 24, 22, tzinfo=UTC), datetime(2025, 10, 25, 22, tzinfo=UTC)
    axes = _axes(start, end, [])
    bottom, top = axes.get_ylim()
    assert bottom <= -1 and top >= 6
    shown = [
        tick.get_text()
        for tick in axes.get_yticklabels()
        if bottom <= tick.get_position()[1] <= top
    ]
    assert {"-1", "0", "5", "6"} <= set(shown), shown
