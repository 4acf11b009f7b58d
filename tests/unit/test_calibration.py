"""The calibration lab's CSV and when a check stops verifying its probe (coldchain.calibration)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

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
