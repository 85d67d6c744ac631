"""Wearable telemetry through the real Mosquitto and the real Kafka.

The subscriber (``serve``) runs in-process in a thread of its own, producing to this test's own
topics; messages are published with paho-mqtt at QoS 1 to the broker started by `wardwatch stack
up`. The reconnect test cuts the subscriber's connection with a loopback TCP relay in front of the
broker: a real network drop, the broker itself is left alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from kafka import KafkaConsumer

from wardwatch.config import Settings
from wardwatch.streams.adapters.mqtt_wearable import WearableSubscriber, serve, telemetry_topic
from wardwatch.streams.codec import decode
from wardwatch.streams.deadletter import parse_dead_letter_headers
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import NumericObservation, WaveformChunk
from wardwatch.streams.sealing import unseal

from ..conftest import TEST_SECRET
from .conftest import Isolated, wait_for

T_MS = 1_790_000_000_000


def _payload(device: str, patient: str, t_ms: int, **values: Any) -> bytes:
    return json.dumps({"device_id": device, "patient_id": patient, "bed": "07", "ts": t_ms, **values}).encode()


class RunningSubscriber:
    """``serve(settings, stop, ...)`` on its own event loop in a thread."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.settings, self.options = settings, options
        self.subscriber: WearableSubscriber | None = None
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="mqtt-subscriber", daemon=True)
        self._thread.start()
        wait_for(lambda: self.subscriber is not None and self.subscriber.connected.is_set() or self.error,
                 timeout=60, what="the subscriber to subscribe")
        assert self.error is None, self.error

    def _main(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            await serve(self.settings, self._stop, on_subscriber=lambda s: setattr(self, "subscriber", s), **self.options)

        try:
            self._loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def alive(self) -> bool:
        return self._thread.is_alive() and self.error is None

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._loop.close()


def publish(settings: Settings, topic: str, *payloads: bytes, port: int | None = None) -> None:
    """Publish at QoS 1 and wait for the broker's acknowledgement of each message."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(settings.mqtt.host, port or settings.mqtt.port)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.loop_stop()
        client.disconnect()


def forget_session(settings: Settings, client_id: str) -> None:
    """End the broker's persistent session of ``client_id`` (a clean connect does)."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.disconnect()


class Topics:
    """Everything that reached this test's numerics, waveforms and dead-letter topics so far."""

    def __init__(self, isolated: Isolated) -> None:
        self._consumer = KafkaConsumer(
            isolated.topics["numerics"], isolated.topics["waveforms"], isolated.topics["dlq"],
            bootstrap_servers=isolated.settings.kafka.bootstrap_servers, auto_offset_reset="earliest",
            consumer_timeout_ms=500, group_id=None)
        self._names = isolated.topics
        self.numerics: list[NumericObservation] = []
        self.waveforms: list[WaveformChunk] = []
        self.letters: list[Any] = []

    def poll(self) -> "Topics":
        for message in self._consumer:
            if message.topic == self._names["dlq"]:
                self.letters.append(message)
            elif message.topic == self._names["numerics"]:
                self.numerics.append(decode(message.value))  # type: ignore[arg-type]
            else:
                self.waveforms.append(decode(message.value))  # type: ignore[arg-type]
        return self

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def wearables(isolated: Isolated) -> Iterator[tuple[Isolated, str, str]]:
    """(isolated, topic root, client id): this test's own MQTT topics and session."""
    root, client_id = f"test-{uuid.uuid4().hex[:10]}", f"test-sub-{uuid.uuid4().hex[:10]}"
    yield isolated, root, client_id
    forget_session(isolated.settings, client_id)


def test_telemetry_to_kafka_bad_payload_to_dlq_subscriber_survives(wearables: tuple[Isolated, str, str]) -> None:
    isolated, root, client_id = wearables
    running = RunningSubscriber(isolated.settings, client_id=client_id, topic_root=root)
    topics = Topics(isolated)
    try:
        good = _payload("wb-1", "MRN-5501", T_MS, heart_rate=74, spo2=96, skin_temp={"value": 92.3, "unit": "[degF]"}, battery=55,
                        accel={"fs_hz": 25, "unit": "g", "x": [0.0, 0.1], "y": [0.0, 0.0], "z": [1.0, 1.0]})
        garbage = b'{"device_id": "wb-1", "patient_id": "MRN-5501", "ts": ' + b"\xff not json"
        wrong_device = _payload("wb-2", "MRN-5501", T_MS + 1000, spo2=95)  # published on wb-1's topic
        later = _payload("wb-1", "MRN-5501", T_MS + 2000, spo2=93, battery=11)
        publish(isolated.settings, telemetry_topic(root, "wb-1"), good, garbage, wrong_device, later)

        wait_for(lambda: len(topics.poll().numerics) >= 4 and len(topics.letters) >= 2 and len(topics.waveforms) >= 3,
                 timeout=60, what="records and dead letters in Kafka")
        ref = pseudonymize("MRN-5501", TEST_SECRET.encode())
        got = {(r.signal, r.timestamp_ns): r for r in topics.numerics}
        assert {k: r.value for k, r in got.items()} == {
            ("MDC_PULS_OXIM_PULS_RATE", T_MS * 10**6): 74.0,
            ("MDC_PULS_OXIM_SAT_O2", T_MS * 10**6): 96.0,
            ("MDC_TEMP_SKIN", T_MS * 10**6): 33.5,
            ("MDC_PULS_OXIM_SAT_O2", (T_MS + 2000) * 10**6): 93.0,
        }
        assert all(r.patient_ref == ref and r.device_id == "wb-1" and r.bed == "07" for r in topics.numerics)
        assert got[("MDC_PULS_OXIM_SAT_O2", (T_MS + 2000) * 10**6)].quality == ("battery_low",)
        z = next(c for c in topics.waveforms if c.signal == "WARDWATCH_ACCEL_Z")
        assert z.fs_hz == 25.0 and z.values().tolist() == pytest.approx([9.80665, 9.80665])

        by_value = {unseal(m.value, TEST_SECRET.encode()): m for m in topics.letters}
        assert set(by_value) == {garbage, wrong_device}  # sealed; the original bytes, byte for byte
        assert all(b"MRN-5501" not in m.value for m in topics.letters)
        letter = parse_dead_letter_headers(by_value[wrong_device].headers)
        assert (letter.field, letter.stage) == ("$.device_id", "adapter:mqtt-wearable")
        assert letter.source_topic == f"mqtt:{telemetry_topic(root)}" and by_value[wrong_device].key == b"wb-1"
        assert parse_dead_letter_headers(by_value[garbage].headers).field == "$"
        assert all(b"MRN-5501" not in value for _, value in by_value[garbage].headers)

        assert running.alive()
        assert running.subscriber is not None
        assert running.subscriber.counters()["received"] == 4 and running.subscriber.counters()["dead_lettered"] == 2
        assert running.subscriber.device_status["wb-1"].battery_low
    finally:
        topics.close()
        running.close()
    assert running.error is None


def test_redelivered_message_is_sent_to_kafka_once(wearables: tuple[Isolated, str, str]) -> None:
    isolated, root, client_id = wearables
    running = RunningSubscriber(isolated.settings, client_id=client_id, topic_root=root)
    topics = Topics(isolated)
    try:
        message = _payload("wb-3", "MRN-5503", T_MS, heart_rate=66, spo2=97)
        publish(isolated.settings, telemetry_topic(root, "wb-3"), message, message)  # a QoS-1 redelivery
        marker = _payload("wb-3", "MRN-5503", T_MS + 1000, spo2=98)
        publish(isolated.settings, telemetry_topic(root, "wb-3"), marker)
        wait_for(lambda: any(r.timestamp_ns == (T_MS + 1000) * 10**6 for r in topics.poll().numerics), timeout=60, what="the marker")
        topics.poll()
        assert len(topics.numerics) == 3  # HR and SpO2 once, the marker
        assert running.subscriber is not None and running.subscriber.counters()["duplicates"] == 2
    finally:
        topics.close()
        running.close()


class TcpRelay:
    """A loopback TCP relay in front of the broker that can drop every connection and refuse new ones."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.refusing = False
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.refusing = True
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._open.clear()

    def close(self) -> None:
        self.cut()
        self.server.close()


def test_reconnects_and_gets_what_was_published_while_away(wearables: tuple[Isolated, str, str]) -> None:
    isolated, root, client_id = wearables
    relay = TcpRelay(isolated.settings.mqtt.port)
    settings = dataclasses.replace(isolated.settings, mqtt=isolated.settings.mqtt.model_copy(update={"port": relay.port}))
    running = RunningSubscriber(settings, client_id=client_id, topic_root=root, min_backoff_s=0.2, max_backoff_s=1.0)
    topics = Topics(isolated)
    topic = telemetry_topic(root, "wb-4")
    try:
        publish(isolated.settings, topic, _payload("wb-4", "MRN-5504", T_MS, spo2=97))
        wait_for(lambda: topics.poll().numerics, timeout=60, what="the first message")

        relay.cut()  # the network drops; the broker keeps the persistent session
        assert running.subscriber is not None
        wait_for(lambda: not running.subscriber.connected.is_set(), timeout=30, what="the subscriber to notice the drop")
        publish(isolated.settings, topic, _payload("wb-4", "MRN-5504", T_MS + 1000, spo2=94))  # while it is away
        relay.refusing = False

        wait_for(lambda: any(r.value == 94.0 for r in topics.poll().numerics), timeout=60,
                 what="the message published during the outage, after the reconnect")
        assert running.subscriber.reconnects >= 1 and running.alive()
    finally:
        topics.close()
        running.close()
        relay.close()


def test_runs_under_the_adapters_serve_machinery(isolated: Isolated, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wardwatch adapters serve mqtt-wearable` once the listeners table names this module's start_listener."""
    from wardwatch.streams.adapters import serve as serve_module

    root = f"test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("WARDWATCH_MQTT_TOPIC_ROOT", root)
    monkeypatch.setitem(serve_module.LISTENERS, "mqtt-wearable", "wardwatch.streams.adapters.mqtt_wearable:start_listener")
    monkeypatch.setitem(serve_module.DEFAULT_PORTS, "mqtt-wearable", isolated.settings.mqtt.port)
    topics = Topics(isolated)

    async def main() -> dict[str, object]:
        stop = asyncio.Event()

        def ready(listener: Any) -> None:
            assert listener.port == isolated.settings.mqtt.port
            loop = asyncio.get_running_loop()
            loop.run_in_executor(None, publish, isolated.settings, telemetry_topic(root, "wb-5"),
                                 _payload("wb-5", "MRN-5505", T_MS, spo2=92))

        async def stop_when_sent() -> None:
            while not await asyncio.to_thread(lambda: topics.poll().numerics):
                pass
            stop.set()

        watcher = asyncio.ensure_future(stop_when_sent())
        counters = await asyncio.wait_for(serve_module.serve("mqtt-wearable", isolated.settings, isolated.settings.mqtt.host, None,
                                                             stop=stop, on_ready=ready), timeout=90)
        await watcher
        return counters

    try:
        counters = asyncio.run(main())
    finally:
        topics.close()
        forget_session(isolated.settings, f"wardwatch-wearables-{root}")
    assert [r.value for r in topics.numerics] == [92.0]
    assert counters["received"] == 1 and counters["accepted"] == 1
