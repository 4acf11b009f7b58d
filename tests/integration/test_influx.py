"""The InfluxDB adapter and our line protocol against a real InfluxDB 1.x."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from coldchain.contract import Telemetry
from coldchain.fleet import Fleet
from coldchain_devstack.servers import InfluxDB, free_port
from coldchain_devstack.stack import DEMO_FLEET
from coldchain_ingest import points
from coldchain_ingest.errors import InfluxRejected, InfluxUnavailable
from coldchain_ingest.influx import Influx

MESSAGE = Telemetry.model_validate(
    {
        "v": 1,
        "gateway": "van-3",
        "seq": 1842,
        "sent_at": "2026-11-24T10:00:05Z",
        "readings": [
            {"sensor": "van-3.chilled", "ts": "2026-11-24T10:00:00Z", "temp_c": 3.9},
            {"sensor": "van-3.frozen", "ts": "2026-11-24T10:00:00.123456+01:00", "temp_c": -21},
            {"sensor": "spare.probe", "ts": "2026-11-24T10:00:00Z", "temp_c": 20.5},
        ],
        "events": [{"sensor": "van-3.door", "ts": "2026-11-24T10:00:01Z", "kind": "door_open"}],
        "position": {"lat": 51.51, "lon": 7.46, "ts": "2026-11-24T10:00:00Z"},
        "battery_v": 3.7,
    }
)


@pytest.fixture
def influx(influxdb: InfluxDB) -> Iterator[Influx]:
    client = Influx(influxdb.url, f"test_{uuid.uuid4().hex[:12]}")
    client.create_database()
    yield client
    client.close()


def test_points_carry_reading_time_tags_and_fields(influx: Influx) -> None:
    fleet = Fleet.from_yaml(DEMO_FLEET.read_text())
    influx.write(points.telemetry_lines("dortmund-hub", MESSAGE, fleet))
    rows = influx.query("SELECT temp_c, seq, asset, sensor FROM temperature GROUP BY *")
    by_sensor = {s["tags"]["sensor"]: (s["tags"], s["values"]) for s in rows}
    chilled_tags, chilled = by_sensor["van-3.chilled"]
    assert chilled_tags["asset"] == "van-3-chilled"
    assert chilled[0][0] == int(datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp()) * 10**9
    assert chilled[0][1] == 3.9 and chilled[0][2] == 1842
    frozen = by_sensor["van-3.frozen"][1][0]
    assert frozen[0] == int(datetime(2026, 11, 24, 9, tzinfo=UTC).timestamp()) * 10**9 + 123456000
    assert frozen[1] == -21.0
    assert by_sensor["spare.probe"][0]["asset"] == "", "unknown sensors are stored without asset"
    assert influx.query("SELECT count(seq) FROM event WHERE kind = 'door_open'")
    assert influx.query("SELECT lat, lon FROM position")[0]["values"][0][1:] == [51.51, 7.46]
    assert influx.query("SELECT battery_v FROM gateway")[0]["values"][0][1] == 3.7


def test_writing_a_message_twice_overwrites(influx: Influx) -> None:
    fleet = Fleet.from_yaml(DEMO_FLEET.read_text())
    lines = points.telemetry_lines("dortmund-hub", MESSAGE, fleet)
    influx.write(lines)
    influx.write(lines)
    assert influx.query("SELECT count(temp_c) FROM temperature")[0]["values"][0][1] == 3


def test_refused_points_and_unreachable_server_are_told_apart(influx: Influx) -> None:
    with pytest.raises(InfluxRejected, match="unable to parse"):
        influx.write(["temperature,sensor=x temp_c=oops 1"])
    unreachable = Influx(f"http://127.0.0.1:{free_port()}", "coldchain", timeout_s=1)
    with pytest.raises(InfluxUnavailable, match="unreachable"):
        unreachable.write(["temperature,sensor=x temp_c=1.0 1"])
