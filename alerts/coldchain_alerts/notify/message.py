"""What a notice says, in German or English: pure text, no I/O.

Read on a phone at 3 a.m., so short, exact and without jargon: how severe, which
asset, what is wrong in words, the latest reading with its time, the peak and the
limit in °C, since when in local time and for how long, whether it is over, and
the link that opens the alert. The facts are the alert's as it is when the notice
is made: a reminder of an alert still warming shows the new reading and peak.

Every channel sends the same `Rendered` text: e-mail the subject and body, ntfy
the subject as title and the short text, SMS the short text, the webhook all three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from coldchain.compliance import BERLIN
from coldchain.languages import Language
from coldchain.rulenames import rule_name
from coldchain_alerts.notify.notice import AlertLine, Notice, Reason

#: Most characters of the short text (SMS, push). With °C in it an SMS is sent as
#: UCS-2: 300 characters are five concatenated parts.
SMS_MAX_CHARS = 300
#: A link longer than this is left out of the short text rather than crowd it out.
SHORT_LINK_MAX_CHARS = SMS_MAX_CHARS // 2

_ELLIPSIS = "…"


@dataclass(frozen=True)
class Rendered:
    """A notice as text in one language."""

    subject: str
    """E-mail subject, push title: one line."""
    short: str
    """SMS and push text, at most SMS_MAX_CHARS characters, ending with the first alert's link."""
    body: str
    """Plain-text e-mail body: every alert with all its details and its link."""


_MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

#: Words per language; `{n}` a count, `{site}` the site, `{level}` the escalation level.
_WORDS: dict[str, tuple[str, str]] = {
    "critical": ("Kritisch", "Critical"),
    "warning": ("Warnung", "Warning"),
    "many": ("{n} Alarme in {site}", "{n} alerts at {site}"),
    "first": ("erster", "first"),
    "prefix_escalation": ("Eskalation Stufe {level} – ", "Escalation level {level} – "),
    "prefix_reminder": ("Erinnerung – ", "Reminder – "),
    "intro_new_1": ("Neuer Alarm in {site}.", "New alert at {site}."),
    "intro_new_n": ("{n} neue Alarme in {site}.", "{n} new alerts at {site}."),
    "intro_escalation_1": (
        "Eskalation Stufe {level}: Niemand hat diesen Alarm in {site} bestätigt.",
        "Escalation level {level}: nobody has acknowledged this alert at {site}.",
    ),
    "intro_escalation_n": (
        "Eskalation Stufe {level}: Niemand hat diese {n} Alarme in {site} bestätigt.",
        "Escalation level {level}: nobody has acknowledged these {n} alerts at {site}.",
    ),
    "intro_reminder_1": (
        "Erinnerung: Dieser Alarm in {site} ist noch nicht bestätigt.",
        "Reminder: this alert at {site} is still not acknowledged.",
    ),
    "intro_reminder_n": (
        "Erinnerung: Diese {n} Alarme in {site} sind noch nicht bestätigt.",
        "Reminder: these {n} alerts at {site} are still not acknowledged.",
    ),
    "outro_1": (
        "Bitte den Link öffnen, den Alarm bestätigen und die Korrekturmaßnahme eintragen.",
        "Please open the link, acknowledge the alert and record the corrective action.",
    ),
    "outro_n": (
        "Bitte die Links öffnen, die Alarme bestätigen und die Korrekturmaßnahmen eintragen.",
        "Please open the links, acknowledge the alerts and record the corrective actions.",
    ),
    "as_of": (
        "Zeiten in Ortszeit ({zone}), Stand {time}.",
        "Times in local time ({zone}), as of {time}.",
    ),
    "limit": ("Grenze", "limit"),
    "peak": ("Spitzenwert", "peak"),
    "lowest": ("Tiefstwert", "lowest"),
    "reading": ("Messwert", "reading"),
    "at": ("um", "at"),
    "since": ("seit", "since"),
    "until": ("bis", "to"),
    "active": ("besteht noch", "still active"),
    "cleared": ("beendet", "cleared"),
    "sensor": ("Fühler", "sensor"),
    "gateway": ("Gateway", "gateway"),
    "under_a_minute": ("unter 1 min", "under 1 min"),
    "day": ("Tag", "day"),
    "days": ("Tage", "days"),
}


def render(notice: Notice, language: Language, timezone: str = BERLIN) -> Rendered:
    """The notice as text in `language`; times shown in `timezone` (IANA name).

    Alerts keep the notice's order; "first" in the summary of several is the
    first of them. Never raises for a notice whose times are aware datetimes.
    """
    text = _Text(language, ZoneInfo(timezone), notice.now)
    return Rendered(
        subject=" ".join(text.subject(notice).split()),
        short=text.short(notice),
        body=text.body(notice),
    )


def celsius(value_c: float, language: Language) -> str:
    """`8,5 °C` in German, `8.5 °C` in English: one decimal, never `-0.0`."""
    if not math.isfinite(value_c):
        return f"{value_c} °C"
    shown = f"{value_c:.1f}"
    if shown == "-0.0":
        shown = "0.0"
    if language == "de":
        shown = shown.replace(".", ",")
    return f"{shown} °C"


def duration(seconds: float, language: Language) -> str:
    """`45 min`, `2 h 5 min`, `3 Tage 4 h`: minutes below a day, hours above; never negative."""
    minutes = int(max(seconds, 0.0) // 60)
    if minutes < 1:
        return _word("under_a_minute", language)
    hours, minute = divmod(minutes, 60)
    if hours == 0:
        return f"{minute} min"
    days, hour = divmod(hours, 24)
    if days == 0:
        return f"{hour} h {minute} min" if minute else f"{hour} h"
    unit = _word("day" if days == 1 else "days", language)
    return f"{days} {unit} {hour} h" if hour else f"{days} {unit}"


def lasted_s(alert: AlertLine, now: datetime) -> float:
    """How long the alert's condition has lasted (s): its `duration_s`, else from `since`
    to the clearing, or to `now` while it is present."""
    if alert.duration_s is not None:
        return alert.duration_s
    end = alert.cleared_at if alert.cleared_at is not None else now
    return (end - alert.since).total_seconds()


def _word(key: str, language: Language) -> str:
    german, english = _WORDS[key]
    return german if language == "de" else english


class _Text:
    """Rendering in one language, zone and `now`."""

    def __init__(self, language: Language, zone: ZoneInfo, now: datetime) -> None:
        self.language = language
        self.zone = zone
        self.now = now
        self.today = now.astimezone(zone).date()

    def word(self, key: str, **values: object) -> str:
        return _word(key, self.language).format(**values)

    # --- the three texts ---------------------------------------------------------------

    def subject(self, notice: Notice) -> str:
        prefix = self.prefix(notice)
        if len(notice.alerts) == 1:
            return prefix + self.headline(notice.alerts[0])
        return prefix + self.several(notice)

    def short(self, notice: Notice) -> str:
        prefix = self.prefix(notice)
        if not notice.alerts:
            return _cut(prefix + self.several(notice), SMS_MAX_CHARS)
        first = notice.alerts[0]
        facts = ", ".join(part for part in (self.measured(first), self.period(first, True)) if part)
        if len(notice.alerts) == 1:
            head = f"{prefix}{self.headline(first, with_value=False)}"
        else:
            head = prefix + self.several(notice)
        return _with_link(f"{head}, {facts}." if facts else f"{head}.", first.link)

    def body(self, notice: Notice) -> str:
        count = len(notice.alerts)
        one = "1" if count == 1 else "n"
        intro = self.word(
            f"intro_{notice.reason.value}_{one}",
            n=count,
            site=_site(notice),
            level=notice.level,
        )
        blocks = [intro]
        for number, alert in enumerate(notice.alerts, start=1):
            lines = self.details(alert)
            if count > 1:
                lines[0] = f"{number}. {lines[0]}"
            indent = " " * (len(str(number)) + 2) if count > 1 else ""
            blocks.append("\n".join([lines[0], *(indent + line for line in lines[1:])]))
        zone = self.zone.key
        as_of = self.word("as_of", zone=zone, time=self.clock(self.now))
        blocks.append(f"{self.word(f'outro_{one}')}\n{as_of}")
        return "\n\n".join(blocks) + "\n"

    # --- parts -------------------------------------------------------------------------

    def prefix(self, notice: Notice) -> str:
        if notice.reason is Reason.ESCALATION:
            return self.word("prefix_escalation", level=notice.level)
        if notice.reason is Reason.REMINDER:
            return self.word("prefix_reminder")
        return ""

    def severity(self, severity: str) -> str:
        return self.word("critical" if severity == "critical" else "warning")

    def headline(self, alert: AlertLine, with_value: bool = True) -> str:
        """`Kritisch: Kühlraum 1 – zu warm (8,5 °C)`: severity first, the current value."""
        line = f"{self.severity(alert.severity)}: {self.who(alert)} – {self.what(alert)}"
        if with_value and alert.value_c is not None:
            line += f" ({celsius(alert.value_c, self.language)})"
        return line

    def several(self, notice: Notice) -> str:
        """`Kritisch: 3 Alarme in REGIOwez Dortmund, erster: Kühlraum 1 – zu warm`: the
        most severe first."""
        many = self.word("many", n=len(notice.alerts), site=_site(notice))
        if not notice.alerts:
            return many
        worst = "critical" if any(a.severity == "critical" for a in notice.alerts) else "warning"
        first = notice.alerts[0]
        return (
            f"{self.severity(worst)}: {many}, {self.word('first')}: "
            f"{self.who(first)} – {self.what(first)}"
        )

    def who(self, alert: AlertLine) -> str:
        """The asset's name in this language (else the other's, else its id), or the device."""
        if alert.asset is not None:
            names = alert.asset_names
            other = next((name for name in names.values() if name), None)
            return names.get(self.language) or other or alert.asset
        if alert.gateway is not None:
            return f"{self.word('gateway')} {alert.gateway}"
        if alert.sensor is not None:
            return f"{self.word('sensor')} {alert.sensor}"
        return alert.site

    def what(self, alert: AlertLine) -> str:
        return rule_name(alert.rule, self.language)

    def measured(self, alert: AlertLine) -> str:
        """`Messwert 26,0 °C um 04:10, Spitzenwert 26,1 °C, Grenze 6,0 °C`: whichever are
        known, or ``."""
        parts = []
        if alert.value_c is not None:
            reading = f"{self.word('reading')} {celsius(alert.value_c, self.language)}"
            if alert.value_at is not None:
                reading += f" {self.word('at')} {self.clock(alert.value_at)}"
            parts.append(reading)
        if alert.peak_c is not None:
            extreme = "lowest" if alert.rule.startswith("under") else "peak"
            parts.append(f"{self.word(extreme)} {celsius(alert.peak_c, self.language)}")
        if alert.limit_c is not None:
            parts.append(f"{self.word('limit')} {celsius(alert.limit_c, self.language)}")
        return ", ".join(parts)

    def period(self, alert: AlertLine, short: bool = False) -> str:
        """`seit 03:12 (45 min)`, or `03:12–03:57 (45 min), beendet` once cleared."""
        how_long = duration(lasted_s(alert, self.now), self.language)
        since = self.clock(alert.since)
        if alert.active:
            return f"{self.word('since')} {since} ({how_long})"
        cleared = self.word("cleared")
        if alert.cleared_at is None:
            return f"{self.word('since')} {since} ({how_long}), {cleared}"
        until = self.clock(alert.cleared_at)
        span = f"{since}-{until}" if short else f"{since} {self.word('until')} {until}"
        return f"{span} ({how_long}), {cleared}"

    def details(self, alert: AlertLine) -> list[str]:
        """The lines of one alert in the e-mail body."""
        lines = [_upper_first(self.headline(alert, with_value=False))]
        measured = self.measured(alert)
        if measured:
            lines.append(_upper_first(measured))
        state = self.word("active") if alert.active else ""
        period = self.period(alert)
        lines.append(_upper_first(f"{period}, {state}" if state else period))
        if alert.asset is not None and alert.sensor is not None:
            lines.append(_upper_first(f"{self.word('sensor')} {alert.sensor}"))
        elif alert.asset is not None and alert.gateway is not None:
            lines.append(_upper_first(f"{self.word('gateway')} {alert.gateway}"))
        lines.append(alert.link)
        return lines

    def clock(self, at: datetime) -> str:
        """`03:12` today (in the zone), else `23.11. 03:12` / `23 Nov 03:12`, with the year
        when it is not this year's; in UTC, saying so, for a time at the edge of the
        calendar that has no local time (which would fail the whole message)."""
        try:
            local, zone = at.astimezone(self.zone), ""
        except OverflowError:
            local, zone = at.astimezone(UTC), " UTC"
        time = f"{local:%H:%M}{zone}"
        if local.date() == self.today:
            return time
        year = local.year != self.today.year
        if self.language == "de":
            day = f"{local:%d.%m.}" + (f"{local.year}" if year else "")
        else:
            day = f"{local.day} {_MONTHS_EN[local.month - 1]}" + (f" {local.year}" if year else "")
        return f"{day} {time}"


def _site(notice: Notice) -> str:
    return notice.site_name or notice.site


def _with_link(head: str, link: str) -> str:
    """`head link` within SMS_MAX_CHARS: the head is cut, the link kept unless it is too long."""
    if len(link) > SHORT_LINK_MAX_CHARS:
        return _cut(head, SMS_MAX_CHARS)
    return f"{_cut(head, SMS_MAX_CHARS - len(link) - 1)} {link}"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _cut(text: str, most: int) -> str:
    text = " ".join(text.split())
    if len(text) <= most:
        return text
    return text[: most - len(_ELLIPSIS)].rstrip() + _ELLIPSIS
