"""The paho internals ingest's lean PUBLISH path relies on (ingest/coldchain_ingest/broker.py).

They are not paho's public API, so the versions ingest accepts are pinned, and this
fails at once, naming what moved, if an installed paho does not have them as
broker.py uses them: better a failed build than a pipeline that mis-reads messages.
"""

from __future__ import annotations

import inspect
import time
from importlib.metadata import version

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coldchain_ingest.broker import _Client

TESTED = ("2.1", "2.2")


def test_the_installed_paho_is_one_broker_py_was_tested_with() -> None:
    installed = version("paho-mqtt")
    assert installed.startswith(TESTED), (
        f"paho-mqtt {installed}: broker.py's lean path was tested with {TESTED}; "
        "check its use of paho's internals before widening the pin in ingest/pyproject.toml"
    )


def test_the_internals_are_where_broker_py_expects_them() -> None:
    assert callable(getattr(mqtt.Client, "_handle_publish", None)), "Client._handle_publish"
    queue = inspect.signature(mqtt.Client._packet_queue)
    assert list(queue.parameters)[:5] == ["self", "command", "packet", "mid", "qos"], queue
    client = _Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    assert {"command", "packet"} <= set(client._in_packet), "Client._in_packet's keys"
    assert client._in_packet["command"] == 0, "Client._in_packet between packets"
    assert callable(getattr(mqtt.Client, "_sock_recv", None)), "Client._sock_recv"
    assert hasattr(client, "_msgtime_mutex"), "Client._msgtime_mutex"
    assert hasattr(client, "_last_bytes_received"), "Client._last_bytes_received"
    assert mqtt.time_func is time.monotonic, "paho's clock for keepalive"
    puback = inspect.signature(mqtt.Client._handle_pubackcomp)
    assert list(puback.parameters) == ["self", "cmd"], puback
    on_publish = inspect.signature(mqtt.Client._do_on_publish)
    assert list(on_publish.parameters) == ["self", "mid", "reason_code", "properties"], on_publish
    assert isinstance(client._out_messages, dict), "Client._out_messages"
    assert hasattr(client, "_out_message_mutex"), "Client._out_message_mutex"
    assert callable(getattr(mqtt.Client, "_loop_rc_handle", None)), "Client._loop_rc_handle"
    assert client.protocol == mqtt.MQTTv5
