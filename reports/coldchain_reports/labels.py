"""Every word the reports print, in German and English, and how numbers and times are written.

German reports use a decimal comma and day.month.year; English ones a decimal
point and ISO dates. Both show times in the site's time zone with its
abbreviation, so the doubled hour of the autumn clock change stays unambiguous.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from coldchain.languages import Language

_DE = {
    "report_title": "Temperaturbericht",
    "certificate_title": "Temperaturnachweis zur Lieferung",
    "site": "Standort",
    "asset": "Objekt",
    "compartment": "Fach",
    "category": "Warengruppe",
    "sensor": "Fühler",
    "interval": "Messintervall",
    "period": "Zeitraum",
    "days_1": "1 Tag",
    "days_n": "{n} Tage",
    "times_in": "Zeiten in {tz}",
    "legal_max": "Gesetzliche Höchsttemperatur",
    "alarm_limits": "Alarmgrenzen",
    "alarm_max": "Obere Alarmgrenze",
    "alarm_min": "Untere Alarmgrenze",
    "none": "keine",
    "summary": "Zusammenfassung",
    "readings": "Messwerte",
    "coverage": "Abdeckung",
    "minimum": "Minimum",
    "maximum": "Maximum",
    "mean": "Mittelwert",
    "mkt": "Mittlere kinetische Temperatur (MKT)",
    "mkt_short": "MKT",
    "against_alarm": "Alarmgrenzen",
    "against_legal": "Gesetzl. Höchstwert",
    "time_within": "Zeit innerhalb",
    "time_beyond": "Zeit außerhalb",
    "excursions": "Überschreitungen",
    "above_legal": "Zeit über der gesetzlichen Höchsttemperatur",
    "above_alarm_max": "Zeit über der oberen Alarmgrenze",
    "below_alarm_min": "Zeit unter der unteren Alarmgrenze",
    "degree_minutes": "Gradminuten",
    "days_title": "Tageswerte",
    "day": "Tag",
    "col_readings": "Werte",
    "col_coverage": "Abdeckung",
    "col_min": "Min",
    "col_max": "Max",
    "col_mean": "Mittel",
    "col_in_range": "innerhalb Alarm",
    "col_beyond_alarm": "außerhalb Alarm",
    "col_above_legal": "über Gesetz",
    "col_km": "K·min",
    "plot_title": "Temperaturverlauf",
    "plot_temp": "Temperatur (°C)",
    "plot_time": "Ortszeit ({tz})",
    "plot_readings": "Messwerte {sensor}",
    "plot_excursion": "Überschreitung der Alarmgrenzen",
    "excursions_title": "Grenzwertüberschreitungen und Maßnahmen",
    "no_excursions": "Keine Überschreitung der Alarmgrenzen im Zeitraum.",
    "start": "Beginn",
    "end": "Ende",
    "duration": "Dauer",
    "peak": "Spitze",
    "corrective_action": "Korrektur-\nmaßnahme",
    "product_decision": "Produkt-\nentscheidung",
    "not_recorded": "nicht erfasst",
    "actions_note": (
        "Korrekturmaßnahme und Produktentscheidung stammen aus dem Abschluss des kritischen "
        "Alarms im Alarmdienst, der während der Überschreitung begann oder in sie eskalierte. "
        "„nicht erfasst“: dazu ist kein abgeschlossener Alarm gespeichert (der Alarm ist noch "
        "offen); dann ist die Maßnahme im HACCP-Protokoll nachzuweisen."
    ),
    "ongoing": "dauert an",
    "carried_from": "begann vor dem Zeitraum, gezählt am {day}",
    "split_by_day": "Gradminuten je Tag: {parts}",
    "short_deviations": "Kurze Abweichungen",
    "col_days_hours": "Stunden",
    "col_excursions": "Überschreitungen",
    "col_short": "kurze Abweichungen",
    "deviations_title": "Kurze Abweichungen (keine Überschreitung)",
    "no_deviations": "Keine kurze Abweichung im Zeitraum.",
    "reason": "Grund",
    "held_back_delay": "kürzer als die Alarmverzögerung ({delay})",
    "held_back_grace": "in der Nachfrist nach Türöffnung oder Abtauung",
    "deviations_note": (
        "Eine kurze Abweichung lag jenseits einer Alarmgrenze, wurde nach denselben Regeln wie "
        "die Alarme aber keine Überschreitung: Sie endete, bevor sie die Alarmverzögerung "
        "gedauert hatte, oder in der Nachfrist nach einer Türöffnung oder Abtauung. Sie ist "
        "keine Überschreitung und löste keinen Alarm aus; ihre Zeit und Gradminuten sind in "
        "„Zeit außerhalb“ und „Gradminuten“ enthalten."
    ),
    "conventions_title": "Konventionen",
    "convention_days": (
        "Tage: Kalendertage in {tz}, von Mitternacht bis Mitternacht Ortszeit; am Tag der "
        "Umstellung auf Sommerzeit 23 Stunden, auf Winterzeit 25 Stunden. In diesem Bericht: "
        "{lengths}."
    ),
    "convention_weighted": (
        "Zeitgewichtet: Jeder Messwert gilt bis zum nächsten, wenn dieser binnen "
        "{factor} Messintervallen ({cap}) folgt, sonst ein Messintervall ({interval}); die "
        "übrige Zeit einer Lücke ist nicht abgedeckt. Abdeckung, Zeit innerhalb und außerhalb, "
        "Gradminuten (K über der Grenze × abgedeckte Minuten) zählen so; Minimum, Maximum, "
        "Mittelwert und MKT sind über die Messwerte im Zeitraum."
    ),
    "convention_covered": (
        "Abgedeckt ist die Zeit, für die ein Messwert gilt. Zeit ohne Messwert ist weder "
        "innerhalb noch außerhalb und nie konform: „Zeit innerhalb“ ist ein Anteil am ganzen "
        "Zeitraum. Ein Messwert genau auf einer Grenze ist innerhalb."
    ),
    "convention_excursions": (
        "Überschreitungen nach denselben Regeln wie die Alarme: Sie beginnt mit dem ersten "
        "Messwert jenseits einer Alarmgrenze und endet mit dem ersten, der um die Hysterese "
        "({hysteresis}) zurück ist; eine Lücke beendet sie nicht. Sie zählt, sobald sie "
        "die Alarmverzögerung ({delay}) gedauert hat; nach einer Türöffnung wartet sie "
        "{door}, während einer Abtauung {defrost}, doch nie länger als die Verzögerung plus "
        "die längste Nachfrist. {absolute}Unplausible Messwerte (außerhalb {plausible}) "
        "beginnen und beenden keine."
    ),
    "convention_absolute": (
        "Über der absoluten Grenze ({limit}) zählt sie sofort, außer während einer Abtauung. "
    ),
    "convention_midnight": (
        "Mitternacht: Eine Überschreitung über Mitternacht ist eine Überschreitung; sie wird "
        "als Ganzes beurteilt und am Tag ihres Beginns gezählt, ihre Gradminuten gehören "
        "anteilig zu den Tagen, an denen sie anfielen."
    ),
    "convention_short": (
        "Kurze Abweichungen: jenseits einer Grenze, aber vor der Alarmverzögerung oder in "
        "einer Nachfrist beendet; gesondert aufgeführt, nie als Überschreitung gezählt."
    ),
    "convention_bound": (
        "Zur Beurteilung werden Messwerte vor und nach dem Zeitraum gelesen, bis zum Anfang "
        "und Ende einer über seine Grenzen laufenden Überschreitung, höchstens {bound} weit."
    ),
    "cause": "Ursache: {cause}",
    "closed_by": "abgeschlossen von {actor}, {at}",
    "decision_release": "Freigabe",
    "decision_quarantine": "Sperrung",
    "decision_discard": "Entsorgung",
    "calibration_title": "Kalibrierung des Messgeräts (EN 13486)",
    "limit_periods_title": "Geltende Grenzwerte (Flottenregister)",
    "limit_periods_none": (
        "Im Zeitraum galt keine Version des Flottenregisters: es galten die Grenzwerte der "
        "Flottendatei (oben)."
    ),
    "limit_periods_note": (
        "Jede Version des Flottenregisters gilt ab ihrem Zeitpunkt bis zur nächsten; eine "
        "Änderung kritischer Grenzwerte ist mit Begründung im Prüfprotokoll des Alarmdienstes "
        "verzeichnet. Die Zahlen dieses Dokuments sind an den Grenzwerten oben gemessen."
    ),
    "col_version": "Version",
    "col_alarm_max": "Max",
    "col_alarm_min": "Min",
    "col_delay": "Verzögerung",
    "changed_by": "geändert von",
    "calibration_valid": (
        "verifiziert: geprüft am {checked}, {deviation}, nächste Prüfung fällig am {due} "
        "({reference})"
    ),
    "calibration_unverified": (
        "nicht verifiziert ({reasons}): geprüft am {checked}, {deviation}, Prüfung fällig am "
        "{due} ({reference})"
    ),
    "calibration_flaw_overdue": "Prüfung überfällig",
    "calibration_flaw_deviation": "Abweichung über ±1 K",
    "calibration_deviation": "Abweichung {kelvin} K",
    "calibration_deviation_unknown": "Abweichung nicht angegeben",
    "calibration_unknown": "unbekannt: für diesen Fühler ist keine Kalibrierung hinterlegt",
    "col_calibration": "Kalibrierung",
    "probe_unverified": "nicht verifiziert: {readings} Messwerte ab {since}",
    "day_valid": "verifiziert",
    "day_unverified": "nicht verifiziert: {readings} Messwerte",
    "day_partly_unverified": "teils nicht verifiziert: {readings} Messwerte",
    "day_unknown": "unbekannt",
    "unverified_note": (
        "Messwerte, die der Fühler aufnahm, während er nicht verifiziert war (ab Mitternacht "
        "des ersten Tages, an dem seine Prüfung überfällig war oder mehr als ±1 K Abweichung "
        "fand, bis eine gute Prüfung galt): {readings}."
    ),
    "digest_title": "Prüfsumme der Messwerte",
    "digest_text": (
        "SHA-256 über {count} Messwerte des Fühlers {sensor} von {start} bis {end} (UTC), "
        "je eine Zeile „Fühler,Zeit in ns,Temperatur“, nach Zeit sortiert. Nachprüfen mit:"
    ),
    "generated": "Erstellt {at} mit coldchain-report",
    "page": "Seite {page} von {pages}",
    "delivery_note": "Lieferschein-Nr.",
    "tour": "Tour",
    "sender": "Absender",
    "receiver": "Empfänger",
    "goods": "Ware",
    "lot": "Los {lot}",
    "vehicle": "Fahrzeug (Kennzeichen)",
    "vehicle_plate": "{plate} (Gateway {gateway})",
    "vehicle_no_plate": (
        "Kennzeichen unbekannt: für Gateway {gateway} nicht im Flottenverzeichnis hinterlegt"
    ),
    "vehicle_none": "keines: ortsfester Fühler (Gateway {gateway})",
    "responsible": "Verantwortlich",
    "probe_calibration": "Kalibrierung (EN 13486)",
    "loading": "Beladen",
    "handover": "Übergabe",
    "result": "Ergebnis",
    "result_kept": "Gesetzliche Höchsttemperatur während der erfassten Zeit eingehalten.",
    "result_exceeded": "Gesetzliche Höchsttemperatur für {duration} überschritten.",
    "result_coverage": "Messwerte decken {coverage} der Lieferzeit ab.",
    "qr_caption": "QR-Code: Fühler, Zeitraum und Prüfsumme für „coldchain-report verify --seal“",
    "preliminary": "VORLÄUFIG",
    "preliminary_text": (
        "Erstellt {issued}, bevor die Messwerte bis zum Ende des Zeitraums ({end}) vorlagen. "
        "Die Zahlen können sich noch ändern; dies ist kein endgültiger Nachweis und trägt "
        "kein Siegel."
    ),
    "preliminary_no_seal": (
        "Vorläufig: kein Siegel, denn noch nicht alle Messwerte des Zeitraums sind "
        "gespeichert. Die Prüfsumme gilt für die Messwerte bei Erstellung."
    ),
    "signature_title": "Elektronische Signatur",
    "signature_text": (
        "Diese Datei und ihr eingebetteter Datensatz (Messwert-Prüfsumme, Grenzwerte, Zeiten, "
        "Konventionen, Überschreitungen, Maßnahmen, Erstellungszeit) sind mit dem Schlüssel "
        "{key_id} des Hubs signiert (Ed25519). Prüfen ohne Datenbank und ohne Netz: "
        "„coldchain-report verify DATEI --key hub.pub“ oder die Prüfseite (verify/index.html) "
        "mit der Schlüsselliste des Hubs."
    ),
    "weekdays": "Mo Di Mi Do Fr Sa So",
    "zone_CET": "MEZ",
    "zone_CEST": "MESZ",
}

_EN = {
    "report_title": "Temperature report",
    "certificate_title": "Delivery temperature certificate",
    "site": "Site",
    "asset": "Asset",
    "compartment": "Compartment",
    "category": "Category",
    "sensor": "Sensor",
    "interval": "Recording interval",
    "period": "Period",
    "days_1": "1 day",
    "days_n": "{n} days",
    "times_in": "Times in {tz}",
    "legal_max": "Legal maximum",
    "alarm_limits": "Alarm limits",
    "alarm_max": "Upper alarm limit",
    "alarm_min": "Lower alarm limit",
    "none": "none",
    "summary": "Summary",
    "readings": "Readings",
    "coverage": "Coverage",
    "minimum": "Minimum",
    "maximum": "Maximum",
    "mean": "Mean",
    "mkt": "Mean kinetic temperature (MKT)",
    "mkt_short": "MKT",
    "against_alarm": "Alarm limits",
    "against_legal": "Legal maximum",
    "time_within": "Time within",
    "time_beyond": "Time beyond",
    "excursions": "Excursions",
    "above_legal": "Time above legal maximum",
    "above_alarm_max": "Time above upper alarm limit",
    "below_alarm_min": "Time below lower alarm limit",
    "degree_minutes": "Degree-minutes",
    "days_title": "Daily figures",
    "day": "Day",
    "col_readings": "Readings",
    "col_coverage": "Coverage",
    "col_min": "Min",
    "col_max": "Max",
    "col_mean": "Mean",
    "col_in_range": "within alarm",
    "col_beyond_alarm": "beyond alarm",
    "col_above_legal": "above legal",
    "col_km": "K·min",
    "plot_title": "Temperature",
    "plot_temp": "Temperature (°C)",
    "plot_time": "Local time ({tz})",
    "plot_readings": "Readings {sensor}",
    "plot_excursion": "Beyond alarm limits",
    "excursions_title": "Excursions and actions",
    "no_excursions": "No excursion beyond the alarm limits in this period.",
    "start": "Start",
    "end": "End",
    "duration": "Duration",
    "peak": "Peak",
    "corrective_action": "Corrective\naction",
    "product_decision": "Product\ndecision",
    "not_recorded": "not recorded",
    "actions_note": (
        "Corrective action and product decision come from the closing of the critical alert "
        "in the alerts service that began during the excursion or escalated into it. “not "
        "recorded”: no closed alert is stored for it (the alert is still open); then the "
        "action must be documented in the HACCP log."
    ),
    "ongoing": "still going on",
    "carried_from": "began before the period, counted on {day}",
    "split_by_day": "degree-minutes by day: {parts}",
    "short_deviations": "Short deviations",
    "col_days_hours": "Hours",
    "col_excursions": "Excursions",
    "col_short": "Short deviations",
    "deviations_title": "Short deviations (not excursions)",
    "no_deviations": "No short deviation in this period.",
    "reason": "Reason",
    "held_back_delay": "shorter than the alarm delay ({delay})",
    "held_back_grace": "within the grace after a door opening or defrost",
    "deviations_note": (
        "A short deviation went beyond an alarm limit but, by the same rules as the alarms, "
        "did not become an excursion: it ended before it had lasted the alarm delay, or "
        "within the grace after a door opening or defrost. It is not an excursion and raised "
        "no alarm; its time and degree-minutes are part of “Time beyond” and "
        "“Degree-minutes”."
    ),
    "conventions_title": "Conventions",
    "convention_days": (
        "Days: calendar days in {tz}, from local midnight to local midnight; 23 hours on the "
        "day the clocks go forward, 25 hours on the day they go back. In this report: "
        "{lengths}."
    ),
    "convention_weighted": (
        "Time-weighted: each reading stands until the next one when that follows within "
        "{factor} recording intervals ({cap}), otherwise for one interval ({interval}); the "
        "rest of a gap is not covered. Coverage, time within and beyond, degree-minutes "
        "(K beyond the limit × minutes covered) count so; minimum, maximum, mean and MKT are "
        "over the readings in the period."
    ),
    "convention_covered": (
        "Covered is the time a reading stands for. Time without a reading is neither within "
        "nor beyond and never compliant: “Time within” is a share of the whole period. A "
        "reading exactly at a limit is within."
    ),
    "convention_excursions": (
        "Excursions by the same rules as the alarms: one starts at the first reading beyond "
        "an alarm limit and ends at the first reading back inside by the hysteresis "
        "({hysteresis}); a gap does not end it. It counts once it has lasted the alarm delay "
        "({delay}); after a door opening it waits {door}, during a defrost {defrost}, but "
        "never longer than the delay plus the longest grace. {absolute}Implausible readings "
        "(outside {plausible}) neither start nor end one."
    ),
    "convention_absolute": (
        "Beyond the absolute limit ({limit}) it counts at once, except during a defrost. "
    ),
    "convention_midnight": (
        "Midnight: an excursion across midnight is one excursion; it is judged as a whole and "
        "counted on the day it starts, its degree-minutes belong to the days they accrued on."
    ),
    "convention_short": (
        "Short deviations: beyond a limit, but ended before the alarm delay or within a "
        "grace; listed apart, never counted as excursions."
    ),
    "convention_bound": (
        "To judge them, readings before and after the period are read, back to the start and "
        "forward to the end of an excursion running across its edges, at most {bound} far; a "
        "longer one is judged from there on."
    ),
    "cause": "Cause: {cause}",
    "closed_by": "closed by {actor}, {at}",
    "decision_release": "release",
    "decision_quarantine": "quarantine",
    "decision_discard": "discard",
    "calibration_title": "Recorder calibration (EN 13486)",
    "limit_periods_title": "Limits in force (fleet registry)",
    "limit_periods_none": (
        "No fleet registry version was in force in the period: the fleet file's limits "
        "above applied."
    ),
    "limit_periods_note": (
        "Each fleet registry version holds from its time until the next; a change of a "
        "critical limit is recorded with its reason in the alerts service's audit log. "
        "This document's numbers are measured against the limits above."
    ),
    "col_version": "Version",
    "col_alarm_max": "Max",
    "col_alarm_min": "Min",
    "col_delay": "Delay",
    "changed_by": "changed by",
    "calibration_valid": (
        "verified: checked on {checked}, {deviation}, next check due on {due} ({reference})"
    ),
    "calibration_unverified": (
        "unverified ({reasons}): checked on {checked}, {deviation}, check due on {due} "
        "({reference})"
    ),
    "calibration_flaw_overdue": "check overdue",
    "calibration_flaw_deviation": "deviation beyond ±1 K",
    "calibration_deviation": "deviation {kelvin} K",
    "calibration_deviation_unknown": "deviation not recorded",
    "calibration_unknown": "unknown: no calibration record for this sensor",
    "col_calibration": "Calibration",
    "probe_unverified": "unverified: {readings} readings from {since}",
    "day_valid": "verified",
    "day_unverified": "unverified: {readings} readings",
    "day_partly_unverified": "partly unverified: {readings} readings",
    "day_unknown": "unknown",
    "unverified_note": (
        "Readings the probe took while it was unverified (from midnight of the first day its "
        "check was overdue or found more than ±1 K, until a good check was in force): "
        "{readings}."
    ),
    "digest_title": "Digest of the readings",
    "digest_text": (
        "SHA-256 over {count} readings of sensor {sensor} from {start} to {end} (UTC), "
        "one line “sensor,time in ns,temperature” each, sorted by time. Check it with:"
    ),
    "generated": "Generated {at} by coldchain-report",
    "page": "Page {page} of {pages}",
    "delivery_note": "Delivery note no.",
    "tour": "Tour",
    "sender": "Sender",
    "receiver": "Receiver",
    "goods": "Goods",
    "lot": "lot {lot}",
    "vehicle": "Vehicle (plate)",
    "vehicle_plate": "{plate} (gateway {gateway})",
    "vehicle_no_plate": "plate unknown: not in the fleet file for gateway {gateway}",
    "vehicle_none": "none: a stationary probe (gateway {gateway})",
    "responsible": "Responsible",
    "probe_calibration": "Calibration (EN 13486)",
    "loading": "Loading",
    "handover": "Hand-over",
    "result": "Result",
    "result_kept": "Legal maximum kept throughout the recorded time.",
    "result_exceeded": "Legal maximum exceeded for {duration}.",
    "result_coverage": "Readings cover {coverage} of the delivery time.",
    "qr_caption": "QR code: sensor, period and digest for “coldchain-report verify --seal”",
    "preliminary": "PRELIMINARY",
    "preliminary_text": (
        "Issued {issued}, before the readings up to the end of the period ({end}) were all "
        "stored. Its numbers may still change; this is no final record and carries no seal."
    ),
    "preliminary_no_seal": (
        "Preliminary: no seal, as not all readings of the period are stored yet. The digest "
        "is over the readings stored when it was issued."
    ),
    "signature_title": "Electronic signature",
    "signature_text": (
        "This file and the record embedded in it (readings digest, limits, times, conventions, "
        "excursions, actions, time of issue) are signed with the hub’s key {key_id} (Ed25519). "
        "Check it without a database or network: “coldchain-report verify FILE --key hub.pub” "
        "or the verification page (verify/index.html) with the hub's key list."
    ),
    "weekdays": "Mon Tue Wed Thu Fri Sat Sun",
    "zone_CET": "CET",
    "zone_CEST": "CEST",
}

_TEXTS: dict[Language, dict[str, str]] = {"de": _DE, "en": _EN}
NOT_AVAILABLE = "–"


class Labels:
    """The words and number formats of one language."""

    def __init__(self, language: Language, timezone: str) -> None:
        self.language = language
        self.timezone = timezone
        self._texts = _TEXTS[language]

    def __call__(self, key: str, **values: object) -> str:
        return self._texts[key].format(**values)

    def number(self, value: float | None, decimals: int) -> str:
        if value is None:
            return NOT_AVAILABLE
        text = f"{value:.{decimals}f}".removeprefix("-" if round(value, decimals) == 0 else "")
        return text.replace(".", ",") if self.language == "de" else text

    def temperature(self, value_c: float | None) -> str:
        return NOT_AVAILABLE if value_c is None else f"{self.number(value_c, 1)} °C"

    def percent(self, value: float | None) -> str:
        return NOT_AVAILABLE if value is None else f"{self.number(value, 2)} %"

    def degree_minutes(self, value: float) -> str:
        return f"{self.number(value, 1)} K·min"

    def decision(self, value: str) -> str:
        """A product decision (release, quarantine, discard) in words; another value as given."""
        return self._texts.get(f"decision_{value}", value)

    @staticmethod
    def duration(seconds: float) -> str:
        """h:mm:ss, hours past 24 included: the same in both languages."""
        whole = round(seconds)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"

    def days(self, count: int) -> str:
        """`1 Tag`, `2 Tage`; `1 day`, `2 days`."""
        return self("days_1") if count == 1 else self("days_n", n=count)

    def day(self, day: date) -> str:
        return day.strftime("%d.%m.%Y") if self.language == "de" else day.isoformat()

    def weekday(self, day: date) -> str:
        return f"{self._texts['weekdays'].split()[day.weekday()]} {self.day(day)}"

    def time(self, moment: datetime, seconds: bool = False) -> str:
        """A moment as local date and time with the zone's abbreviation (MEZ/MESZ, CET/CEST)."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
        zone = local.tzname() or ""
        zone = self._texts.get(f"zone_{zone}", zone)
        return f"{self.day(local.date())} {clock} {zone}"
