"""The gateway's SQLite outbox, on a real file."""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coldchain.contract import (
    MAX_READINGS_PER_MESSAGE,
    Event,
    EventKind,
    ExportedMessage,
    Reading,
    Telemetry,
)
from coldchain_devstack import BIN
from coldchain_gateway.errors import OutboxError
from coldchain_gateway.outbox import Outbox

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _readings(n: int, offset: int = 0) -> list[Reading]:
    return [
        Reading(sensor="van-3.chilled", ts=T0 + timedelta(minutes=offset + i), temp_c=3.0 + i / 10)
        for i in range(n)
    ]


def test_pack_numbers_messages_and_keeps_them_until_confirmed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.append(_readings(3), [], None, ticks=3)
    created = outbox.pack("van-3", T0)
    assert [seq for seq, _ in created] == [1]
    message = Telemetry.model_validate_json(created[0][1])
    assert (message.gateway, message.seq, len(message.readings)) == ("van-3", 1, 3)
    assert outbox.pack("van-3", T0) == []
    assert outbox.unconfirmed(after_seq=0, limit=10) == created
    assert outbox.confirm(1) == 1
    assert outbox.unconfirmed(after_seq=0, limit=10) == []


def test_a_reopened_outbox_never_reuses_a_seq(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.append(_readings(2), [], None, ticks=2)
    outbox.pack("van-3", T0)
    outbox.confirm(1)
    outbox.close()

    reopened = Outbox(path)
    assert reopened.ticks() == 2
    reopened.append(_readings(1, offset=2), [], None, ticks=3)
    assert [seq for seq, _ in reopened.pack("van-3", T0)] == [2]
    backlog = reopened.backlog()
    assert (backlog.last_seq, backlog.durable_seq, backlog.messages) == (2, 1, 1)


def test_unconfirmed_messages_survive_reopening_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.append(
        _readings(5), [Event(sensor="van-3.door", ts=T0, kind=EventKind.DOOR_OPEN)], None, ticks=5
    )
    before = outbox.pack("van-3", T0)
    outbox.close()
    assert Outbox(path).unconfirmed(after_seq=0, limit=10) == before


def test_large_backlog_is_split_at_the_contract_limit(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.append(_readings(1234), [], None, ticks=1234)
    sizes = [
        len(Telemetry.model_validate_json(payload).readings)
        for _, payload in outbox.pack("van-3", T0)
    ]
    assert sizes == [MAX_READINGS_PER_MESSAGE, MAX_READINGS_PER_MESSAGE, 234]


def test_a_durable_mark_above_the_outbox_moves_numbering_past_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    assert outbox.confirm(41) == 0
    outbox.append(_readings(1), [], None, ticks=1)
    assert [seq for seq, _ in outbox.pack("van-3", T0)] == [42]


def test_confirm_keeps_later_messages(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    for i in range(3):
        outbox.append(_readings(1, offset=i), [], None, ticks=i + 1)
        outbox.pack("van-3", T0)
    assert outbox.confirm(2) == 2
    assert [seq for seq, _ in outbox.unconfirmed(after_seq=0, limit=10)] == [3]


def test_over_budget_the_oldest_half_is_thinned_per_sensor(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", budget_readings=100)
    thinned = 0
    for minute in range(101):
        readings = [
            Reading(sensor=sensor, ts=T0 + timedelta(minutes=minute), temp_c=3.0)
            for sensor in ("van-3.chilled", "van-3.frozen")
        ]
        thinned += outbox.append(readings, [], None, ticks=minute + 1)
    assert thinned == outbox.thinned() > 0
    kept = [
        r for _, p in outbox.pack("van-3", T0) for r in Telemetry.model_validate_json(p).readings
    ]
    for sensor in ("van-3.chilled", "van-3.frozen"):
        minutes = [int((r.ts - T0).total_seconds() // 60) for r in kept if r.sensor == sensor]
        assert minutes == sorted(minutes)
        assert minutes[0] == 0, "the oldest reading is kept: coverage starts where it did"
        assert minutes[-10:] == list(range(91, 101)), "the newest stay complete"
        gaps = [b - a for a, b in itertools.pairwise(minutes)]
        assert gaps[: len(gaps) // 2] >= gaps[len(gaps) // 2 :], "older data are coarser"
    assert len(kept) == 2 * 101 - thinned <= 100 + 2


def test_an_outbox_of_an_older_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    legacy = sqlite3.connect(path)
    legacy.execute("CREATE TABLE pending (id INTEGER PRIMARY KEY, kind TEXT, body TEXT)")
    legacy.close()
    with pytest.raises(OutboxError, match="drain"):
        Outbox(path)


def test_the_sources_state_is_kept_with_its_sample(tmp_path: Path) -> None:
    """The state after the last sample stored, across a reopening; a sample without one
    (a real probe) leaves it as it was."""
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    assert outbox.source_state() is None
    outbox.append(_readings(1), [], None, ticks=1, state='{"tick": 1}')
    outbox.append(_readings(1, offset=1), [], None, ticks=2, state='{"tick": 2}')
    outbox.append(_readings(1, offset=2), [], None, ticks=3)
    outbox.close()

    reopened = Outbox(path)
    assert (reopened.ticks(), reopened.source_state()) == (3, '{"tick": 2}')


def test_an_outbox_of_the_gateway_before_kept_no_state_and_opens(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE pending (id INTEGER PRIMARY KEY, kind TEXT, sensor TEXT, body TEXT);"
            "CREATE TABLE messages (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO meta VALUES ('last_seq', 7), ('durable_seq', 7), ('ticks', 7), "
            "('thinned', 0);"
            "PRAGMA user_version = 2;"
        )
    outbox = Outbox(path)
    assert (outbox.ticks(), outbox.source_state()) == (7, None)
    outbox.append(_readings(1), [], None, ticks=8, state="{}")
    assert outbox.source_state() == "{}"


def _export(tmp_path: Path, outbox: Path, target: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env |= {
        "COLDCHAIN_GATEWAY_SITE": "dortmund-hub",
        "COLDCHAIN_GATEWAY_ID": "van-3",
        "COLDCHAIN_GATEWAY_OUTBOX": str(outbox),
    }
    return subprocess.run(
        [str(BIN / "coldchain-gateway"), "outbox", "export", str(target)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_export_writes_what_ingest_has_not_confirmed_and_nothing_else(
    tmp_path: Path,
) -> None:
    """Confirmed messages are gone, numbered ones come byte for byte, what waits unsent is
    numbered first; a missing outbox or an existing file is refused with the reason."""
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.append(_readings(1), [], None, ticks=1)
    ((first, _),) = outbox.pack("van-3", T0)
    outbox.append(_readings(1, offset=1), [], None, ticks=2)
    ((second, sent),) = outbox.pack("van-3", T0)
    outbox.confirm(first)
    outbox.append(_readings(3, offset=5), [], None, ticks=5)
    outbox.close()

    target = tmp_path / "van-3.jsonl"
    exported = _export(tmp_path, path, target)
    assert exported.returncode == 0, exported.stderr
    lines = [ExportedMessage.model_validate_json(line) for line in target.read_text().splitlines()]
    assert {line.topic for line in lines} == {"coldchain/v1/dortmund-hub/van-3/telemetry"}
    assert lines[0].payload.encode() == sent
    unsent = Telemetry.model_validate_json(lines[1].payload)
    assert (unsent.seq, len(unsent.readings)) == (second + 1, 3)

    again = _export(tmp_path, path, target)
    assert again.returncode == 2 and "exists" in again.stderr
    missing = _export(tmp_path, tmp_path / "elsewhere.sqlite3", tmp_path / "other.jsonl")
    assert missing.returncode == 2 and "no outbox" in missing.stderr
    assert not (tmp_path / "elsewhere.sqlite3").exists()
