"""The alarm path end to end through real Kafka, a real worker and a real HTTP receiver.

A scripted desaturation: one high-priority alarm; the bedside nurse is notified; nobody
acknowledges, so the charge nurse is; the worker is killed mid-escalation and replaced; the doctor
is notified after the restart and nobody twice; the alarm is acknowledged and the ward goes quiet;
SpO2 recovers and the alarm resolves.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import yaml
from kafka import KafkaConsumer, KafkaProducer

from wardwatch.alerting.channels.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from wardwatch.alerting.config import load_config
from wardwatch.streams.codec import decode, encode
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import AlarmAck, Alert, NumericObservation

from ..conftest import TEST_SECRET
from .conftest import Isolated, WorkerProcess, wait_for

HOOK_SECRET = "webhook-secret-for-the-alarm-test"


class Receiver:
    """A real HTTP server that checks each webhook's signature and keeps what it got."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_signature(HOOK_SECRET.encode(), self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER])
                if ok:
                    receiver.got.append((self.headers[IDEMPOTENCY_HEADER], json.loads(body)))
                else:
                    receiver.bad_signatures += 1
                self.send_response(200 if ok else 401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def tiers(self, source: str = "spo2.low") -> list[str]:
        return [body["tier"] for _, body in self.of(source)]

    def of(self, source: str) -> list[tuple[str, dict]]:
        """The notifications about the alarm of rule (group) ``source``."""
        return [(k, body) for k, body in self.got if body["alert"]["source"] == source]

    def close(self) -> None:
        self.server.shutdown()


def _rules(tmp_path: Path) -> Path:
    doc = yaml.safe_load((Path(load_config.__code__.co_filename).parent / "defaults" / "ward-default.yaml").read_text())
    ladder = [{"tier": "bedside_nurse", "after_s": 0}, {"tier": "charge_nurse", "after_s": 5}, {"tier": "on_call_doctor", "after_s": 40}]
    doc["escalation"]["physiological"]["high"] = ladder
    doc["escalation"]["physiological"]["medium"] = ladder
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_desaturation_alarm_notify_escalate_restart_ack_resolve(isolated: Isolated, tmp_path: Path) -> None:
    receiver = Receiver()
    tiers = {t: [receiver.url] for t in ("bedside_nurse", "charge_nurse", "on_call_doctor")}
    env = dict(
        isolated.env,
        WARDWATCH_ALERT_RULES_PATH=str(_rules(tmp_path)),
        WARDWATCH_ALERT_TICK_S="1",
        WARDWATCH_NOTIFY_RECIPIENTS=json.dumps(tiers),
        WARDWATCH_NOTIFY_WEBHOOK_SECRET=HOOK_SECRET,
        WARDWATCH_NOTIFY_BACKOFF_S="0.2",
    )
    ref = pseudonymize("MRN-DESAT-1", TEST_SECRET.encode())
    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all")

    def spo2(at_ns: int, value: float) -> None:
        obs = NumericObservation(patient_ref=ref, ward="ward-a", bed="07", device_id="mon-07", signal="MDC_PULS_OXIM_SAT_O2",
                                 unit="%", timestamp_ns=at_ns, value=value)
        producer.send(isolated.topics["numerics"], key=ref.encode(), value=encode(obs))

    consumer = KafkaConsumer(isolated.topics["alerts"], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=300, group_id=None)
    alerts: list[Alert] = []

    def poll() -> list[Alert]:
        alerts.extend(decode(m.value, Alert) for m in consumer)
        return alerts

    worker = WorkerProcess(env, tmp_path / "worker-1.log")
    try:
        now = time.time_ns()
        for k in range(40):  # 10 s at 97 %, then 30 s at 84 %, ending now
            spo2(now - (40 - k) * 10**9, 97.0 if k < 10 else 84.0)
        producer.flush()
        wait_for(lambda: "charge_nurse" in receiver.tiers(), timeout=90, what="escalation to the charge nurse")
        time.sleep(4)  # let the worker record the delivery and commit, then kill it mid-escalation
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(timeout=30)
    finally:
        worker.stop()
    worker = WorkerProcess(env, tmp_path / "worker-2.log")
    try:
        wait_for(lambda: "on_call_doctor" in receiver.tiers(), timeout=120, what="escalation to the doctor after the restart")
        # one SpO2 alarm, raised (medium), worsened (high), escalated; the only high-priority alarm.
        # (NEWS2 may add its own low-priority alarm for SpO2 scoring 3: a separate alarm.)
        (alert_id,) = {a.alert_id for a in poll() if a.source == "spo2.low"}
        assert {a.alert_id for a in alerts if a.priority == "high"} == {alert_id}
        spo2_alerts = [a for a in alerts if a.alert_id == alert_id]
        assert spo2_alerts[0].priority == "medium" and spo2_alerts[-1].priority == "high"

        ack = AlarmAck(alert_id=alert_id, patient_ref=ref, by_role="nurse", by_user="s-0001", at_ns=time.time_ns())
        producer.send(isolated.topics["acks"], key=ref.encode(), value=msgspec.msgpack.encode(ack))
        producer.flush()
        wait_for(lambda: any(a.state == "acknowledged" for a in poll()), timeout=60, what="the acknowledgement")
        delivered = len(receiver.of("spo2.low"))
        t = time.time_ns()
        for k in range(8):  # still desaturated, acknowledged: silence
            spo2(t + k * 10**9, 84.0)
        producer.flush()
        time.sleep(8)
        assert len(receiver.of("spo2.low")) == delivered, receiver.tiers()[delivered:]
        for k in range(30):  # recovery
            spo2(t + (10 + k) * 10**9, 97.0)
        producer.flush()
        wait_for(lambda: any(a.state == "resolved" for a in poll()), timeout=60, what="the alarm to resolve")
        assert worker.alive(), worker.output()[-3000:]
    finally:
        worker.stop()
        producer.close()
        consumer.close()
        receiver.close()

    keys = [k for k, _ in receiver.got]
    assert len(keys) == len(set(keys)), "a notification was delivered twice"
    assert receiver.bad_signatures == 0
    assert sorted(set(receiver.tiers())) == ["bedside_nurse", "charge_nurse", "on_call_doctor"]
    assert {body["alert"]["alert_id"] for _, body in receiver.of("spo2.low")} == {alert_id}
    assert "MRN" not in json.dumps([body for _, body in receiver.got])
    log = isolated.influx.query('SELECT * FROM "alarm_log" GROUP BY *')
    events = {row["event"] for row in log}
    assert {"raised", "escalated", "acknowledged", "resolved", "notified"} <= events
