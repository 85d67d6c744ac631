"""No patient name or record number from any input gets past the adapters: real HL7/MLLP, FHIR
and MQTT peers send identified messages (valid and malformed) into the real adapters and worker;
then every message on every topic of the test (Faust's changelogs included), every log line of
the adapters and the worker, and every series and value in InfluxDB are scanned for them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as paho
import requests
from hl7.client import MLLPClient
from kafka import KafkaAdminClient, KafkaConsumer

from ..adapters import fhir_samples as F
from ..adapters import hl7_samples as S
from .conftest import Isolated, WorkerProcess, free_port, wait_for

MQTT_IDS = ["MRN-WEAR-0424", "Philippa Quenby"]
IDENTIFIERS = [*S.IDENTIFIERS, *F.IDENTIFIERS, *MQTT_IDS]




def _serve(name: str, port: int | None, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "wardwatch", "adapters", "serve", name, "--log-every", "1"]
    if port is not None:
        args += ["--port", str(port)]
    with open(log, "wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_port(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_no_identifier_in_topics_logs_or_influxdb(isolated: Isolated, worker: WorkerProcess, tmp_path: Path) -> None:
    env = dict(isolated.env, WARDWATCH_MQTT_TOPIC_ROOT=f"priv-{isolated.settings.kafka.topic_prefix}", WARDWATCH_LOG_LEVEL="DEBUG")
    hl7_port, fhir_port = free_port(), free_port()
    procs = {
        "hl7": _serve("hl7-oru", hl7_port, env, tmp_path / "hl7.log"),
        "fhir": _serve("fhir-r4", fhir_port, env, tmp_path / "fhir.log"),
        "mqtt": _serve("mqtt-wearable", None, env, tmp_path / "mqtt.log"),
    }
    try:
        wait_for(lambda: _wait_port(hl7_port) and _wait_port(fhir_port), timeout=60, what="the HL7 and FHIR listeners")
        wait_for(lambda: "listening" in (tmp_path / "mqtt.log").read_text(), timeout=60, what="the MQTT subscriber")
        with MLLPClient("127.0.0.1", hl7_port) as client:
            for message in (S.PCD01_NUMERICS, S.ADT, S.ALL_BAD_OBX):
                client.send_message(message)
        for doc in (F.HEART_RATE, F.BAD_UNIT):
            requests.post(f"http://127.0.0.1:{fhir_port}/fhir/Observation", data=F.dumps(doc),
                          headers={"Content-Type": "application/fhir+json"}, timeout=10)
        requests.post(f"http://127.0.0.1:{fhir_port}/fhir/Observation", data=b"{not json, Ottoline",
                      headers={"Content-Type": "application/fhir+json"}, timeout=10)
        root = env["WARDWATCH_MQTT_TOPIC_ROOT"]
        telemetry = {"device_id": "wb-9", "patient_id": MQTT_IDS[0], "ts": int(time.time() * 1000), "heart_rate": 81, "spo2": 96,
                     "ext": {"owner": MQTT_IDS[1]}}
        bad = {"device_id": "wb-9", "patient_id": MQTT_IDS[0], "ts": "yesterday", "note": MQTT_IDS[1]}
        pub = paho.Client(paho.CallbackAPIVersion.VERSION2)
        pub.connect(isolated.settings.mqtt.host, isolated.settings.mqtt.port)
        pub.loop_start()
        for payload in (telemetry, bad):
            pub.publish(f"{root}/wearables/wb-9/telemetry", json.dumps(payload).encode(), qos=1).wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()

        def stored() -> bool:
            try:
                rows = isolated.influx.query('SELECT count("value") AS n FROM "vitals"')
            except Exception:
                return False
            return bool(rows) and rows[0]["n"] >= len(S.PCD01_EXPECTED) + 1 + 2

        wait_for(stored, timeout=120, what="the valid records of all three adapters in InfluxDB")
        time.sleep(3)  # let the worker's other agents (scores, alarms, alarm log) run on them
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)
        worker.stop()  # nothing new on the topics (its alarm clock ticks) while they are scanned

    leaks: list[str] = []

    def scan(where: str, text: str) -> None:
        low = text.lower()
        leaks.extend(f"{word!r} in {where}" for word in IDENTIFIERS if word.lower() in low)

    # every topic of this test: WardWatch's and Faust's (changelogs, leader topics)
    admin = KafkaAdminClient(bootstrap_servers=isolated.settings.kafka.bootstrap_servers)
    prefix, app_id = isolated.settings.kafka.topic_prefix, isolated.settings.kafka.app_id
    topics = [t for t in admin.list_topics() if t.startswith(prefix) or t.startswith(app_id)]
    admin.close()
    assert any("changelog" in t for t in topics) and isolated.topics["dlq"] in topics
    consumer = KafkaConsumer(*topics, bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000, group_id=None)
    messages = list(consumer)
    consumer.close()
    assert len(messages) > 20
    assert sum(m.topic == isolated.topics["dlq"] for m in messages) >= 4  # the malformed ones, sealed
    for m in messages:
        scan(f"{m.topic} key", (m.key or b"").decode("utf-8", "replace"))
        scan(f"{m.topic} value", m.value.decode("utf-8", "replace") if m.value else "")
        scan(f"{m.topic} headers", " ".join(k + "=" + v.decode("utf-8", "replace") for k, v in m.headers))
    for name in ("hl7", "fhir", "mqtt"):
        log = (tmp_path / f"{name}.log").read_text(errors="replace")
        assert "counters" in log  # the adapter ran and logged
        scan(f"{name} adapter log", log)
    scan("worker log", worker.output())
    series = isolated.influx.query("SHOW SERIES")
    assert series
    scan("InfluxDB series", json.dumps(series))
    for measurement in ("vitals", "features", "alarm_log"):
        try:
            rows = isolated.influx.query(f'SELECT * FROM "{measurement}"')
        except Exception:
            rows = []
        scan(f"InfluxDB {measurement}", json.dumps(rows))
    assert not leaks, leaks
