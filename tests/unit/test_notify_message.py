"""Notices as German and English text: exact wording for typical cases, and properties."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldchain import engine
from coldchain.categories import PRESETS
from coldchain.contract import EventKind
from coldchain.limits import Limits
from coldchain.rulenames import RULE_NAMES as RULES
from coldchain.rulenames import rule_name as rule_words
from coldchain_alerts.notify import SMS_MAX_CHARS, AlertLine, Notice, Reason, render
from coldchain_alerts.notify.message import celsius, duration

#: 03:57 in Dortmund (CET).
NOW = datetime(2026, 11, 24, 2, 57, tzinfo=UTC)
LINK = "https://alerts.example.org/alerts/17"


def van_too_warm(**changes: object) -> AlertLine:
    """Van 2 at 8.5 °C at 03:56 after a peak of 8.7 °C, 44 minutes of reading time in."""
    line = AlertLine(
        alert_id=17,
        site="dortmund-hub",
        asset="van-2-chilled",
        sensor="van-2.chilled",
        gateway=None,
        rule="over_max",
        severity="critical",
        active=True,
        since=datetime(2026, 11, 24, 2, 12, tzinfo=UTC),
        cleared_at=None,
        value_c=8.46,
        limit_c=6.0,
        link=LINK,
        asset_names={"de": "Transporter 2, Kühlfach", "en": "Van 2, chilled compartment"},
        value_at=datetime(2026, 11, 24, 2, 56, tzinfo=UTC),
        peak_c=8.71,
        duration_s=44 * 60,
    )
    return AlertLine(**{**line.__dict__, **changes})  # type: ignore[arg-type]


def gateway_offline() -> AlertLine:
    return AlertLine(
        alert_id=18,
        site="dortmund-hub",
        asset=None,
        sensor=None,
        gateway="van-1",
        rule="offline",
        severity="warning",
        active=False,
        since=datetime(2026, 11, 23, 21, 5, tzinfo=UTC),
        cleared_at=datetime(2026, 11, 24, 0, 10, tzinfo=UTC),
        value_c=None,
        limit_c=None,
        link="https://alerts.example.org/alerts/18",
    )


def test_new_alert_in_german() -> None:
    notice = Notice("dortmund-hub", 1, Reason.NEW, (van_too_warm(),), NOW, "REGIOwez Dortmund")
    text = render(notice, "de")
    assert text.subject == "Kritisch: Transporter 2, Kühlfach – zu warm (8,5 °C)"
    assert text.short == (
        "Kritisch: Transporter 2, Kühlfach – zu warm, Messwert 8,5 °C um 03:56, "
        "Spitzenwert 8,7 °C, Grenze 6,0 °C, seit 03:12 (44 min). "
        "https://alerts.example.org/alerts/17"
    )
    assert text.body == (
        "Neuer Alarm in REGIOwez Dortmund.\n"
        "\n"
        "Kritisch: Transporter 2, Kühlfach – zu warm\n"
        "Messwert 8,5 °C um 03:56, Spitzenwert 8,7 °C, Grenze 6,0 °C\n"
        "Seit 03:12 (44 min), besteht noch\n"
        "Fühler van-2.chilled\n"
        "https://alerts.example.org/alerts/17\n"
        "\n"
        "Bitte den Link öffnen, den Alarm bestätigen und die Korrekturmaßnahme eintragen.\n"
        "Zeiten in Ortszeit (Europe/Berlin), Stand 03:57.\n"
    )


def test_new_alert_in_english() -> None:
    notice = Notice("dortmund-hub", 1, Reason.NEW, (van_too_warm(),), NOW, "REGIOwez Dortmund")
    text = render(notice, "en")
    assert text.subject == "Critical: Van 2, chilled compartment – too warm (8.5 °C)"
    assert text.short == (
        "Critical: Van 2, chilled compartment – too warm, reading 8.5 °C at 03:56, peak 8.7 °C, "
        "limit 6.0 °C, since 03:12 (44 min). https://alerts.example.org/alerts/17"
    )
    assert text.body == (
        "New alert at REGIOwez Dortmund.\n"
        "\n"
        "Critical: Van 2, chilled compartment – too warm\n"
        "Reading 8.5 °C at 03:56, peak 8.7 °C, limit 6.0 °C\n"
        "Since 03:12 (44 min), still active\n"
        "Sensor van-2.chilled\n"
        "https://alerts.example.org/alerts/17\n"
        "\n"
        "Please open the link, acknowledge the alert and record the corrective action.\n"
        "Times in local time (Europe/Berlin), as of 03:57.\n"
    )


def test_escalation_of_two_alerts_in_german() -> None:
    alerts = (van_too_warm(), gateway_offline())
    text = render(Notice("dortmund-hub", 2, Reason.ESCALATION, alerts, NOW), "de")
    assert text.subject == (
        "Eskalation Stufe 2 – Kritisch: 2 Alarme in dortmund-hub, erster: "
        "Transporter 2, Kühlfach – zu warm"
    )
    assert text.short == (
        "Eskalation Stufe 2 – Kritisch: 2 Alarme in dortmund-hub, erster: Transporter 2, "
        "Kühlfach – zu warm, Messwert 8,5 °C um 03:56, Spitzenwert 8,7 °C, Grenze 6,0 °C, "
        "seit 03:12 (44 min). https://alerts.example.org/alerts/17"
    )
    assert text.body == (
        "Eskalation Stufe 2: Niemand hat diese 2 Alarme in dortmund-hub bestätigt.\n"
        "\n"
        "1. Kritisch: Transporter 2, Kühlfach – zu warm\n"
        "   Messwert 8,5 °C um 03:56, Spitzenwert 8,7 °C, Grenze 6,0 °C\n"
        "   Seit 03:12 (44 min), besteht noch\n"
        "   Fühler van-2.chilled\n"
        "   https://alerts.example.org/alerts/17\n"
        "\n"
        "2. Warnung: Gateway van-1 – offline, keine Verbindung\n"
        "   23.11. 22:05 bis 01:10 (3 h 5 min), beendet\n"
        "   https://alerts.example.org/alerts/18\n"
        "\n"
        "Bitte die Links öffnen, die Alarme bestätigen und die Korrekturmaßnahmen eintragen.\n"
        "Zeiten in Ortszeit (Europe/Berlin), Stand 03:57.\n"
    )


def test_a_condition_no_reading_updates_counts_to_the_notice() -> None:
    """A gateway offline since 03:12 and still offline at 03:57: 45 minutes, not the
    duration it had when it was raised."""
    offline = van_too_warm(
        asset=None,
        gateway="van-1",
        rule="offline",
        severity="warning",
        value_c=None,
        value_at=None,
        peak_c=None,
        limit_c=None,
        duration_s=None,
    )
    text = render(Notice("dortmund-hub", 1, Reason.REMINDER, (offline,), NOW), "de")
    assert text.short.startswith(
        "Erinnerung – Warnung: Gateway van-1 – offline, keine Verbindung, seit 03:12 (45 min)."
    )


def test_a_colder_alert_names_its_lowest_value() -> None:
    cold = van_too_warm(rule="under_min", value_c=-1.4, peak_c=-2.04, limit_c=-1.0)
    body = render(Notice("s", 1, Reason.NEW, (cold,), NOW), "de").body
    assert "Messwert -1,4 °C um 03:56, Tiefstwert -2,0 °C, Grenze -1,0 °C\n" in body


def test_reminder_of_a_cleared_alert_in_english() -> None:
    cleared = van_too_warm(
        rule="under_warning",
        severity="warning",
        active=False,
        since=datetime(2025, 12, 31, 22, 0, tzinfo=UTC),
        cleared_at=datetime(2026, 1, 1, 23, 30, tzinfo=UTC),
        value_c=-0.04,
        value_at=datetime(2026, 1, 1, 23, 30, tzinfo=UTC),
        peak_c=-0.74,
        limit_c=-0.5,
        duration_s=(25 * 60 + 30) * 60,
        asset_names={"de": "Transporter 2, Kühlfach"},
    )
    text = render(Notice("dortmund-hub", 1, Reason.REMINDER, (cleared,), NOW), "en")
    assert text.subject == (
        "Reminder – Warning: Transporter 2, Kühlfach – getting too cold (warning level) (0.0 °C)"
    )
    assert text.short == (
        "Reminder – Warning: Transporter 2, Kühlfach – getting too cold (warning level), "
        "reading 0.0 °C at 2 Jan 00:30, lowest -0.7 °C, limit -0.5 °C, "
        "31 Dec 2025 23:00-2 Jan 00:30 (1 day 1 h), cleared. "
        "https://alerts.example.org/alerts/17"
    )
    assert "Reminder: this alert at dortmund-hub is still not acknowledged.\n" in text.body
    assert "31 Dec 2025 23:00 to 2 Jan 00:30 (1 day 1 h), cleared\n" in text.body


def test_a_flood_is_summarised_in_the_short_text() -> None:
    alerts = tuple(
        van_too_warm(alert_id=n, link=f"https://alerts.example.org/alerts/{n}") for n in range(20)
    )
    text = render(Notice("dortmund-hub", 1, Reason.NEW, alerts, NOW), "de")
    assert text.short.startswith(
        "Kritisch: 20 Alarme in dortmund-hub, erster: Transporter 2, Kühlfach"
    )
    assert text.short.endswith(" https://alerts.example.org/alerts/0")
    assert text.body.startswith("20 neue Alarme in dortmund-hub.\n")
    assert "\n20. Kritisch: Transporter 2, Kühlfach – zu warm\n" in text.body


def test_several_warnings_are_named_warnings() -> None:
    alerts = (gateway_offline(), gateway_offline())
    text = render(Notice("dortmund-hub", 1, Reason.NEW, alerts, NOW), "en")
    assert text.subject.startswith("Warning: 2 alerts at dortmund-hub, first: gateway van-1")


def test_a_device_alert_without_asset_names_the_device() -> None:
    silent = van_too_warm(
        asset=None, rule="no_data", value_c=None, peak_c=None, limit_c=None, duration_s=None
    )
    text = render(Notice("dortmund-hub", 1, Reason.NEW, (silent,), NOW), "en")
    assert text.subject == "Critical: sensor van-2.chilled – no readings"
    assert text.short.startswith(
        "Critical: sensor van-2.chilled – no readings, since 03:12 (45 min)."
    )


def test_an_unknown_rule_is_shown_by_its_id() -> None:
    text = render(
        Notice("dortmund-hub", 1, Reason.NEW, (van_too_warm(rule="heat_wave"),), NOW), "de"
    )
    assert text.subject == "Kritisch: Transporter 2, Kühlfach – heat_wave (8,5 °C)"


def test_a_missing_name_falls_back_to_the_other_language_then_the_id() -> None:
    german_only = van_too_warm(asset_names={"de": "Kühlraum 1"})
    nameless = van_too_warm(asset_names={})
    assert render(Notice("s", 1, Reason.NEW, (german_only,), NOW), "en").subject.startswith(
        "Critical: Kühlraum 1 –"
    )
    assert render(Notice("s", 1, Reason.NEW, (nameless,), NOW), "en").subject.startswith(
        "Critical: van-2-chilled –"
    )


def test_times_follow_daylight_saving() -> None:
    summer = van_too_warm(since=datetime(2026, 7, 1, 1, 12, tzinfo=UTC), duration_s=None)
    now = datetime(2026, 7, 1, 1, 57, tzinfo=UTC)
    text = render(Notice("s", 1, Reason.NEW, (summer,), now), "de")
    assert "seit 03:12 (45 min)" in text.short


@pytest.mark.parametrize(
    ("value", "german", "english"),
    [
        (8.46, "8,5 °C", "8.5 °C"),
        (-18.25, "-18,2 °C", "-18.2 °C"),
        (-0.04, "0,0 °C", "0.0 °C"),
        (6, "6,0 °C", "6.0 °C"),
    ],
)
def test_celsius(value: float, german: str, english: str) -> None:
    assert celsius(value, "de") == german
    assert celsius(value, "en") == english


@pytest.mark.parametrize(
    ("seconds", "german", "english"),
    [
        (-5, "unter 1 min", "under 1 min"),
        (59, "unter 1 min", "under 1 min"),
        (60, "1 min", "1 min"),
        (3600, "1 h", "1 h"),
        (7500, "2 h 5 min", "2 h 5 min"),
        (86400 + 3 * 3600 + 59, "1 Tag 3 h", "1 day 3 h"),
        (2 * 86400, "2 Tage", "2 days"),
    ],
)
def test_duration(seconds: float, german: str, english: str) -> None:
    assert duration(seconds, "de") == german
    assert duration(seconds, "en") == english


def engine_rules() -> set[str]:
    """Every rule the engine can emit: its level rules, gateway events and the rest
    its docstring names (those names that are not limit settings)."""
    levels = {t.rule for t in engine.thresholds(PRESETS["meat_products"].limits())}
    gateway = set(engine.GATEWAY_EVENT_RULES.values())
    doc = inspect.getdoc(engine) or ""
    section = doc.split("Rules (", 1)[1].split("A door opening", 1)[0]
    named = {word.strip("`") for word in section.split() if word.startswith("`")}
    named = {name.rstrip("`,;:)") for name in named}
    return levels | gateway | (named - set(Limits.model_fields))


def test_every_rule_of_the_engine_has_words() -> None:
    rules = engine_rules()
    assert {"over_max", "no_data", "outbox_thinned", "budget", "door_open"} <= rules
    assert EventKind.CLOCK_JUMP in engine.GATEWAY_EVENT_RULES
    assert not rules - set(RULES), f"rules without words: {sorted(rules - set(RULES))}"
    for rule in RULES:
        assert rule_words(rule, "de") != rule_words(rule, "en")


# --- properties ----------------------------------------------------------------------

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
names = st.text(max_size=80)
links = st.builds(
    lambda host, path: f"https://{host}/alerts/{path}",
    st.from_regex(r"[a-z0-9.-]{1,40}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9/_-]{0,60}", fullmatch=True),
)
temperatures = st.none() | st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def alert_lines(draw: st.DrawFn) -> AlertLine:
    active = draw(st.booleans())
    return AlertLine(
        alert_id=draw(st.integers(min_value=1, max_value=2**31)),
        site=draw(names),
        asset=draw(st.none() | names),
        sensor=draw(st.none() | names),
        gateway=draw(st.none() | names),
        rule=draw(st.sampled_from([*RULES, "something_new"]) | names),
        severity=draw(st.sampled_from(["warning", "critical"])),
        active=active,
        since=draw(times),
        cleared_at=None if active else draw(st.none() | times),
        value_c=draw(temperatures),
        limit_c=draw(temperatures),
        link=draw(links),
        asset_names=draw(st.fixed_dictionaries({}, optional={"de": names, "en": names})),
        value_at=draw(st.none() | times),
        peak_c=draw(temperatures),
        duration_s=draw(st.none() | st.floats(min_value=-1e9, max_value=1e12)),
    )


notices = st.builds(
    Notice,
    site=names,
    level=st.integers(min_value=1, max_value=9),
    reason=st.sampled_from(Reason),
    alerts=st.lists(alert_lines(), min_size=1, max_size=25).map(tuple),
    now=times,
    site_name=st.none() | names,
)
languages = st.sampled_from(["de", "en"])


@given(notices, languages)
def test_any_notice_renders_within_bounds(notice: Notice, language: str) -> None:
    text = render(notice, language)  # type: ignore[arg-type]
    assert len(text.short) <= SMS_MAX_CHARS
    assert "\n" not in text.subject
    assert notice.alerts[0].link in text.short
    for alert in notice.alerts:
        assert alert.link in text.body


@given(alert_lines(), languages)
def test_values_appear_with_one_decimal(alert: AlertLine, language: str) -> None:
    notice = Notice("s", 1, Reason.NEW, (alert,), NOW)
    body = render(notice, language).body  # type: ignore[arg-type]
    for value in (alert.value_c, alert.peak_c, alert.limit_c):
        if value is not None:
            assert celsius(value, language) in body  # type: ignore[arg-type]


def test_subject_is_one_line_even_for_names_with_line_breaks() -> None:
    odd = van_too_warm(asset_names={"de": "Kühlraum\n1"})
    text = render(Notice("s", 1, Reason.NEW, (odd,), NOW), "de")
    assert text.subject == "Kritisch: Kühlraum 1 – zu warm (8,5 °C)"
