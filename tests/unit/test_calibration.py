"""The calibration lab's CSV and when a check stops verifying its probe (coldchain.calibration)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from coldchain import calibration
from coldchain.calibration import Calibration, Flaw
from coldchain.contract import AlertState

LAB = """sensor,checked_on,due_on,deviation_k,reference
cold-room-1.air,2025-01-14,2026-01-14,-0.3,DAkkS cert. 4711
cold-room-2.air,2025-02-29,2026-02-28,0.1,K-1
van-1.chilled,2025-03-01,,,K-2
freezer-1.air,2025-03-01,2025-02-01,0.2,K-3
van-2.chilled,2025-03-01,2026-03-01,nan,K-4
,2025-03-01,2026-03-01,0.2,K-5
van-3.chilled,2025-03-01,2026-03-01,0.5,K-6
"""


def test_every_bad_row_is_named_by_its_line_and_the_good_ones_are_read() -> None:
    parsed = calibration.parse(io.StringIO(LAB))
    assert [line for line, _ in parsed.checks] == [2, 4, 8]
    assert [problem.split(":")[0] for problem in parsed.problems] == [
        "line 3",
        "line 5",
        "line 6",
        "line 7",
    ]
    assert "day is out of range for month" in parsed.problems[0]
    assert "due_on 2025-02-01 is before checked_on 2025-03-01" in parsed.problems[1]
    assert "deviation_k 'nan' is not a number of kelvin" in parsed.problems[2]
    assert "sensor and reference may not be blank" in parsed.problems[3]
    assert all(calibration.ROW_HINT in problem for problem in parsed.problems)


def test_a_blank_due_day_is_a_year_later_and_optional_columns_may_be_left_out() -> None:
    parsed = calibration.parse(io.StringIO(LAB))
    van = dict(parsed.checks)[4]
    assert van == Calibration("van-1.chilled", date(2025, 3, 1), date(2026, 3, 1), "K-2")
    without = calibration.parse(
        io.StringIO("sensor,checked_on,due_on,reference\na.b,2024-02-29,,R\n")
    )
    assert without.checks[0][1].due_on == date(2025, 2, 28)


def test_a_header_without_a_required_column_is_refused() -> None:
    parsed = calibration.parse(io.StringIO("sensor,checked_on,reference\na.b,2025-01-01,R\n"))
    assert parsed.checks == []
    assert parsed.problems == [
        "line 1: the header lacks due_on; expected sensor,checked_on,due_on,reference"
    ]


texts = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters=",\"'"), min_size=1
).filter(lambda text: text.strip() == text)


@given(
    st.lists(
        st.builds(
            Calibration,
            sensor=st.from_regex(r"^[a-z0-9-]{1,8}\.[a-z]{1,5}$", fullmatch=True),
            checked_on=st.dates(date(2000, 1, 1), date(2090, 1, 1)),
            due_on=st.just(date(2099, 1, 1)),
            reference=texts,
            deviation_k=st.none() | st.floats(-100, 100),
            checked_by=st.none() | texts,
        )
    )
)
def test_what_the_export_writes_reads_back_as_the_same_checks(checks: list[Calibration]) -> None:
    out = io.StringIO()
    csv.writer(out).writerows(calibration.rows(checks))
    parsed = calibration.parse(io.StringIO(out.getvalue()))
    assert parsed.problems == []
    assert [check for _, check in parsed.checks] == checks


def _check(checked_on: date, due_on: date, deviation_k: float | None) -> Calibration:
    return Calibration("cold-room-1.air", checked_on, due_on, "K-1", deviation_k)


def test_a_check_verifies_up_to_its_due_day_and_not_the_day_after() -> None:
    check = _check(date(2025, 3, 12), date(2026, 3, 12), -0.3)
    assert calibration.flaws(check, date(2026, 3, 12)) == []
    assert calibration.flaws(check, date(2026, 3, 13)) == [Flaw.OVERDUE]
    assert calibration.unverified_from(check) == date(2026, 3, 13)
    later_due = _check(date(2025, 3, 12), date(2027, 3, 12), None)
    assert calibration.unverified_from(later_due) == date(2026, 3, 13), "EN 13486: yearly"


def test_a_check_beyond_one_kelvin_never_verifies() -> None:
    check = _check(date(2025, 3, 12), date(2026, 3, 12), 1.01)
    assert calibration.flaws(check, date(2025, 3, 12)) == [Flaw.DEVIATION]
    assert calibration.unverified_from(check) == date(2025, 3, 12)
    assert (
        calibration.flaws(_check(date(2025, 3, 12), date(2026, 3, 12), -1.0), date(2025, 4, 1))
        == []
    )


def test_the_maintenance_alert_starts_at_local_midnight_and_clears_with_its_key() -> None:
    since = calibration.start_of(date(2026, 3, 13), "Europe/Berlin")
    assert since == datetime(2026, 3, 12, 23, tzinfo=UTC)
    now = datetime(2026, 4, 1, tzinfo=UTC)
    raised = calibration.unverified_event(
        "dortmund-hub", "cold-room-1", "cold-room-1.air", since, now, AlertState.RAISED
    )
    assert raised.key == "probe_unverified/cold-room-1.air/2026-03-12T23:00:00+00:00"
    assert (raised.rule, raised.severity, raised.sensor) == (
        "probe_unverified",
        "warning",
        "cold-room-1.air",
    )
    cleared = calibration.unverified_event(
        "dortmund-hub", "cold-room-1", "cold-room-1.air", since, now, AlertState.CLEARED, raised.key
    )
    assert cleared.key == raised.key and cleared.ended_at == now
    assert cleared.duration_s == (now - since).total_seconds()


BERLIN = "Europe/Berlin"
ROOM = "cold-room-1.air"


def _check(checked: date, due: date, deviation: float | None = 0.2) -> Calibration:
    return Calibration(ROOM, checked, due, "K-1", deviation)


def test_a_reading_is_unverified_from_local_midnight_after_the_due_day() -> None:
    checks = [_check(date(2025, 3, 26), date(2026, 3, 26))]

    def unverified(at: datetime) -> bool:
        return calibration.mark(checks, at, at + timedelta(seconds=1), BERLIN, [at]).readings == 1

    assert not unverified(datetime(2026, 3, 26, 22, 59, 59, tzinfo=UTC))  # 23:59:59 CET
    assert unverified(datetime(2026, 3, 26, 23, 0, tzinfo=UTC))  # 27 March, 00:00 CET
    assert calibration.state_on(checks, date(2025, 3, 25)) == "unknown"


def test_of_two_checks_made_the_same_day_the_last_entered_is_in_force() -> None:
    good, bad = (
        _check(date(2026, 3, 1), date(2027, 3, 1)),
        _check(date(2026, 3, 1), date(2027, 3, 1), 1.5),
    )
    assert calibration.state_on([good, bad], date(2026, 3, 2)) == "unverified"
    assert calibration.state_on([bad, good], date(2026, 3, 2)) == "valid"


def test_marking_counts_the_readings_from_the_due_day_until_a_good_check() -> None:
    """Overdue from 27 March (local) until the check of 30 March: three local days,
    the middle one 23 hours long (summer time begins on 29 March 2026)."""
    checks = [
        _check(date(2025, 3, 26), date(2026, 3, 26)),
        _check(date(2026, 3, 30), date(2027, 3, 30)),
    ]
    start = calibration.start_of(date(2026, 3, 25), BERLIN)
    end = calibration.start_of(date(2026, 4, 1), BERLIN)
    times = [
        start + timedelta(hours=hour) for hour in range(int((end - start).total_seconds() // 3600))
    ]
    marking = calibration.mark(checks, start, end, BERLIN, times)
    since, until = (
        calibration.start_of(date(2026, 3, 27), BERLIN),
        calibration.start_of(date(2026, 3, 30), BERLIN),
    )
    assert marking.spans == ((since, until),)
    assert marking.readings == sum(1 for t in times if since <= t < until) == 71
    assert marking.partly and marking.label == "partly_unverified"
    assert marking.state == "valid"


def test_a_span_all_unverified_or_all_verified_says_so() -> None:
    checks = [_check(date(2025, 3, 26), date(2026, 3, 26), 1.2)]
    start = datetime(2026, 3, 1, 10, tzinfo=UTC)
    end = datetime(2026, 3, 2, 10, tzinfo=UTC)
    whole = calibration.mark(checks, start, end, BERLIN, [start, end - timedelta(seconds=1)])
    assert (whole.label, whole.readings, whole.spans) == ("unverified", 2, ((start, end),))
    good = calibration.mark(
        [_check(date(2025, 3, 26), date(2026, 3, 26))], start, end, BERLIN, [start]
    )
    assert (good.label, good.readings, good.spans) == ("valid", 0, ())
    none = calibration.mark([], start, end, BERLIN, [start])
    assert (none.label, none.readings) == ("unknown", 0)


def test_the_checks_in_force_during_a_span_are_those_mark_needs() -> None:
    old, new = (
        _check(date(2025, 3, 26), date(2026, 3, 26)),
        _check(date(2026, 3, 30), date(2027, 3, 30)),
    )
    earlier = _check(date(2024, 3, 1), date(2025, 3, 1))
    checks = [earlier, old, new]
    assert calibration.in_force_between(checks, date(2026, 3, 28), date(2026, 3, 31)) == [old, new]
    assert calibration.in_force_between(checks, date(2026, 4, 1), date(2026, 4, 2)) == [new]
    assert calibration.in_force_between(checks, date(2024, 1, 1), date(2024, 1, 2)) == []
