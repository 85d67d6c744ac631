"""The note agent in a real worker: an alarm -> a verified note on alert-notes, in InfluxDB and in the escalation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from kafka import KafkaConsumer, KafkaProducer

from wardwatch.models.notes.verifier import NoteVerifier
from wardwatch.streams.codec import decode, encode
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import Alert, AlertNote, NumericObservation

from ..conftest import TEST_SECRET
from .conftest import Isolated, WorkerProcess, wait_for
from .test_alarm_path import HOOK_SECRET, Receiver, _rules


def _late_escalation_rules(tmp_path: Path) -> Path:
    """The alarm path's rules, the charge nurse told 45 s after the alarm: the 30 s of data arrive in
    one burst, so an escalation due within them would go out in the same batch as the alarm, before
    any note can exist; 45 s puts it on the alarm clock's wall-clock ticks, after the note."""
    path = _rules(tmp_path)
    doc = yaml.safe_load(path.read_text())
    for priority in ("high", "medium"):
        for step in doc["escalation"]["physiological"][priority]:
            step["after_s"] = {"charge_nurse": 45, "on_call_doctor": 90}.get(step["tier"], step["after_s"])
    path.write_text(yaml.safe_dump(doc))
    return path


def test_alarm_gets_a_verified_note_on_topic_influx_and_escalation(isolated: Isolated, tmp_path: Path) -> None:
    receiver = Receiver()
    tiers = {t: [receiver.url] for t in ("bedside_nurse", "charge_nurse", "on_call_doctor")}
    env = dict(isolated.env, WARDWATCH_ALERT_RULES_PATH=str(_late_escalation_rules(tmp_path)), WARDWATCH_ALERT_TICK_S="1",
               WARDWATCH_NOTIFY_RECIPIENTS=json.dumps(tiers), WARDWATCH_NOTIFY_WEBHOOK_SECRET=HOOK_SECRET,
               WARDWATCH_LLM_BACKEND="template")
    ref = pseudonymize("MRN-NOTE-1", TEST_SECRET.encode())
    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all")
    consumer = KafkaConsumer(isolated.topics["alerts"], isolated.topics["notes"], group_id=None, consumer_timeout_ms=300,
                             bootstrap_servers=isolated.settings.kafka.bootstrap_servers, auto_offset_reset="earliest")
    got: list[tuple[str, int, Alert | AlertNote]] = []

    def poll() -> list[tuple[str, int, Alert | AlertNote]]:
        got.extend((m.topic, m.timestamp, decode(m.value, Alert | AlertNote)) for m in consumer)
        return got

    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        now = time.time_ns()
        for k in range(40):  # 10 s at 97 %, then 30 s at 84 %
            obs = NumericObservation(patient_ref=ref, ward="ward-a", bed="07", device_id="mon-07", signal="MDC_PULS_OXIM_SAT_O2",
                                     unit="%", timestamp_ns=now - (40 - k) * 10**9, value=97.0 if k < 10 else 84.0)
            producer.send(isolated.topics["numerics"], key=ref.encode(), value=encode(obs))
        producer.flush()
        wait_for(lambda: any(isinstance(r, AlertNote) for _, _, r in poll()), timeout=120, what="a note on alert-notes")
        wait_for(lambda: "charge_nurse" in receiver.tiers(), timeout=120, what="the escalation to the charge nurse")
        rows = wait_for(lambda: isolated.influx.query('SELECT * FROM "alert_notes" GROUP BY *'), timeout=30,
                        what="a point in alert_notes")
        assert worker.alive(), worker.output()[-3000:]
    finally:
        worker.stop()
        producer.close()
        consumer.close()
        receiver.close()

    alerts = [(ts, r) for _, ts, r in got if isinstance(r, Alert) and r.source == "spo2.low"]
    notes = [(ts, r) for _, ts, r in got if isinstance(r, AlertNote)]
    first_alert_ts, alert = alerts[0]
    note_ts, note = next((ts, n) for ts, n in notes if n.alert_id == alert.alert_id)
    # the alarm goes out first; the note follows, verified, from the template, with its facts
    assert first_alert_ts <= note_ts
    assert note.backend == "template" and note.verified and note.rejection == ""
    assert note.text.startswith("Bed 07: SpO2 ") and "84 %" in note.text
    assert note.facts["spo2.value [%]"] == 84.0
    assert NoteVerifier.default().verify(note.text, []).accepted is False  # the text needs its facts
    assert ref not in note.text
    row = next(r for r in rows if r["alert_id"] == alert.alert_id)
    assert row["bed"] == "07" and row["ward"] == "ward-a" and row["backend"] == "template" and row["verified"] == "true"
    assert row["text"] in {n.text.replace("\n", " | ") for _, n in notes if n.alert_id == alert.alert_id}
    assert row["patient_ref"] == ref and row["rejection"] == "" and row["latency_ms"] >= 0
    # the first notification went out before any note existed; the escalation carries the note
    escalated = [body for _, body in receiver.of("spo2.low") if body["tier"] == "charge_nurse"]
    assert escalated and escalated[-1]["note"] in {n.text for _, n in notes}
