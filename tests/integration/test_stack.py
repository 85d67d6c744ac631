from __future__ import annotations

import os
import subprocess
import sys
import uuid

import paho.mqtt.client as mqtt

from wardwatch.config import Settings


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wardwatch", *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_stack_up_is_idempotent(stack: Settings) -> None:
    out = _cli("stack", "up")
    assert out.returncode == 0, out.stderr
    for service in ("kafka", "influxdb", "mosquitto"):
        line = next(line for line in out.stdout.splitlines() if line.startswith(service))
        assert "already" in line, line


def test_stack_status_reports_every_service(stack: Settings) -> None:
    out = _cli("stack", "status")
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line.split()[:2] for line in out.stdout.splitlines()] == [
        ["kafka", "answering"], ["influxdb", "answering"], ["mosquitto", "answering"]
    ]


def test_mosquitto_relays_a_message(stack: Settings) -> None:
    topic = f"wardwatch-test/{uuid.uuid4().hex}"
    received: list[bytes] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda client, userdata, msg: received.append(msg.payload)
    sub.connect(stack.mqtt.host, stack.mqtt.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    try:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        pub.connect(stack.mqtt.host, stack.mqtt.port)
        pub.loop_start()
        import time

        time.sleep(0.5)
        pub.publish(topic, b"hr=72", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        pub.loop_stop()
        pub.disconnect()
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert received == [b"hr=72"]
