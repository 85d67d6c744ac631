"""The detect agent in a real worker: a deteriorating patient raises the deterioration alarm, a
stable one does not; the windows of both patients are scored by the micro-batched detector."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaConsumer, KafkaProducer

from wardwatch.agents.app import create_app
from wardwatch.config import load_settings
from wardwatch.streams.codec import decode, encode
from wardwatch.agents.detect import EcgRing
from wardwatch.streams.records import Alert, ChartedEvent, Features, WaveformChunk
from wardwatch.streams.scenarios.model import Baseline, BedPlan, EventPlan, WardPlan
from wardwatch.streams.scenarios.runner import ScenarioRunner

from ..conftest import TEST_SECRET
from .conftest import Isolated, WorkerProcess, wait_for

RUN_S = 70 * 60
FAST = frozenset({"MDC_ECG_HEART_RATE", "MDC_PULS_OXIM_SAT_O2", "MDC_RESP_RATE"})
NORMAL = Baseline(hr_bpm=74, spo2_pct=97, rr_per_min=14, sbp_mmhg=124, dbp_mmhg=76, temp_c=36.8)


def ward() -> WardPlan:
    """Bed 01: sepsis from minute 10, full effect after 40 min; bed 02: stable."""
    sepsis = EventPlan(scenario="sepsis", onset_s=600, duration_s=RUN_S - 600,
                       params={"ramp_s": 2400, "hr_bpm": 40, "rr_per_min": 12, "temp_c": 2.0, "sbp_mmhg": -45, "dbp_mmhg": -20,
                               "spo2_pct": -5})
    return WardPlan(name="ward-det", seed=7, duration_s=RUN_S, waveforms=False,
                    beds=[BedPlan(bed="01", patient="SIM-DET-IT-01", baseline=NORMAL, events=[sepsis]),
                          BedPlan(bed="02", patient="SIM-DET-IT-02", baseline=NORMAL)])


def test_deteriorating_patient_alarms_stable_patient_does_not(isolated: Isolated, tmp_path: Path) -> None:
    env = dict(isolated.env, WARDWATCH_DETECT_BATCH_MAX="16", WARDWATCH_DETECT_BATCH_WAIT_MS="20", WARDWATCH_DETECT_DEVICE="cpu")
    start = (time.time_ns() - RUN_S * 10**9) // 60_000_000_000 * 60_000_000_000
    runner = ScenarioRunner(ward(), TEST_SECRET.encode(), start, waveforms=False)
    sick, stable = runner.patients["01"], runner.patients["02"]
    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all", linger_ms=20)
    consumer = KafkaConsumer(isolated.topics["features"], isolated.topics["alerts"], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=300, group_id=None)
    scores: dict[str, list[tuple[int, float]]] = {sick: [], stable: []}
    alerts: list[Alert] = []

    def poll() -> None:
        for m in consumer:
            if m.topic == isolated.topics["alerts"]:
                alerts.append(decode(m.value, Alert))
                continue
            f = decode(m.value, Features)
            if f.source == "detector" and "detector.deterioration" in f.values:
                scores[f.patient_ref].append((f.timestamp_ns, f.values["detector.deterioration"]))

    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        for rec in runner.admission_events():
            producer.send(isolated.topics["events"], key=rec.patient_ref.encode(), value=encode(rec))
        while runner.second < RUN_S:
            second = runner.second
            for rec in runner.step():
                if isinstance(rec, ChartedEvent):
                    producer.send(isolated.topics["events"], key=rec.patient_ref.encode(), value=encode(rec))
                elif second % 5 == 0 or rec.signal not in FAST:  # continuous signals every 5 s: a lighter load, same medians
                    producer.send(isolated.topics["numerics"], key=rec.patient_ref.encode(), value=encode(rec))
        producer.flush()
        end_minute = (start + (RUN_S - 60) * 10**9) // 60_000_000_000

        def scored_to_the_end() -> bool:
            poll()
            return all(s and s[-1][0] // 60_000_000_000 >= end_minute - 1 for s in scores.values())

        try:
            wait_for(scored_to_the_end, timeout=300, what="detector scores of both patients up to the last minute")
        except pytest.fail.Exception:
            progress = {ref[:8]: (len(s), s[-1][0] // 60_000_000_000 - end_minute if s else None) for ref, s in scores.items()}
            pytest.fail(f"scores (count, last minute - end minute): {progress}; alerts {len(alerts)}\n{worker.output()[-3000:]}")
        wait_for(lambda: poll() or any(a.source == "detector.deterioration" and a.patient_ref == sick for a in alerts),
                 timeout=60, what="the deterioration alarm of the deteriorating patient")
        assert worker.alive(), worker.output()[-3000:]
    finally:
        worker.stop()
        producer.close()
        consumer.close()

    # one score per patient and closed minute, in event-time order (restarts or replays would repeat minutes)
    for ref, s in scores.items():
        minutes = [t // 60_000_000_000 for t, _ in s]
        assert minutes == sorted(set(minutes)), ref
        assert len(minutes) >= RUN_S // 60 - 8, (ref, len(minutes))
    sick_p = [p for _, p in scores[sick]]
    stable_p = [p for _, p in scores[stable]]
    assert max(stable_p) < 0.8, max(stable_p)
    assert max(sick_p[-10:]) >= 0.8 and min(sick_p[:5]) < 0.5, sick_p
    raised = [a for a in alerts if a.source == "detector.deterioration"]
    assert {a.patient_ref for a in raised} == {sick}
    first = min(a.onset_ns for a in raised)
    assert first > start + 600 * 10**9, "raised before the deterioration began"
    assert raised[0].priority == "medium" and "Deterioration score" in raised[0].message
    log = worker.output()
    assert "detector deterioration loaded" in log and "Traceback" not in log, log[-3000:]


def test_no_detect_agent_when_disabled(isolated: Isolated, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for k, v in isolated.env.items():
        if k.startswith("WARDWATCH_"):
            monkeypatch.setenv(k, v)
    monkeypatch.setenv("WARDWATCH_DETECT_ENABLED", "false")
    names = set(create_app(load_settings()).agents)
    monkeypatch.setenv("WARDWATCH_DETECT_ENABLED", "true")
    enabled = set(create_app(load_settings()).agents)
    assert not any("detect" in n for n in names)
    assert any(n.endswith("detect") for n in enabled), enabled


def test_new_af_raises_the_af_alarm_sinus_rhythm_does_not(isolated: Isolated, tmp_path: Path) -> None:
    """ECG chunks to Kafka: the detect-af agent scores each patient's last 30 s every 10 s."""
    run_s = 130
    plan = WardPlan(name="ward-af", seed=3, duration_s=run_s, waveforms=True,
                    beds=[BedPlan(bed="01", patient="SIM-AF-IT-01", events=[EventPlan(scenario="new-af", onset_s=30)]),
                          BedPlan(bed="02", patient="SIM-AF-IT-02")])
    runner = ScenarioRunner(plan, TEST_SECRET.encode(), time.time_ns() - run_s * 10**9)
    af, sinus = runner.patients["01"], runner.patients["02"]
    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all", linger_ms=20)
    consumer = KafkaConsumer(isolated.topics["features"], isolated.topics["alerts"], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=300, group_id=None)
    scores: dict[str, list[float]] = {af: [], sinus: []}
    alerts: list[Alert] = []

    def poll() -> None:
        for m in consumer:
            if m.topic == isolated.topics["alerts"]:
                alerts.append(decode(m.value, Alert))
                continue
            f = decode(m.value, Features)
            if f.source == "detector" and "arrhythmia.af" in f.values:
                scores[f.patient_ref].append(f.values["arrhythmia.af"])

    worker = WorkerProcess(isolated.env, tmp_path / "worker.log")
    try:
        for rec in [*runner.admission_events(), *(r for _ in range(run_s) for r in runner.step())]:
            topic = "events" if isinstance(rec, ChartedEvent) else "waveforms" if isinstance(rec, WaveformChunk) else "numerics"
            producer.send(isolated.topics[topic], key=rec.patient_ref.encode(), value=encode(rec))
        producer.flush()
        # 30-s windows ending at 30, 40, ... 130 s: 11 per patient
        wait_for(lambda: poll() or all(len(s) >= 10 for s in scores.values()), timeout=180, what="AF scores of both patients")
        wait_for(lambda: poll() or any(a.source == "arrhythmia.af" for a in alerts), timeout=60, what="the AF alarm")
        assert worker.alive(), worker.output()[-3000:]
    finally:
        worker.stop()
        producer.close()
        consumer.close()
    assert max(scores[sinus]) < 0.5, scores
    assert min(scores[af][4:]) >= 0.5 and scores[af][0] < 0.5, scores  # windows wholly in AF from 60 s on
    assert {a.patient_ref for a in alerts if a.source == "arrhythmia.af"} == {af}
    first = next(a for a in alerts if a.source == "arrhythmia.af")
    assert first.priority == "medium" and "Atrial fibrillation" in first.message


def test_ecg_ring_windows_every_10_s_and_restarts_after_lead_off() -> None:
    fields = {"patient_ref": "p-0123456789abcdef0123", "ward": "w", "bed": "01", "device_id": "m", "signal": "MDC_ECG_ELEC_POTL_II",
              "unit": "mV", "fs_hz": 250.0}
    t0 = 1_790_000_000_000_000_000
    ring = EcgRing("MDC_ECG_ELEC_POTL_II", 250.0, window_s=30.0, every_s=10.0)

    def chunk(s: int, lead_off: bool = False) -> WaveformChunk:
        return WaveformChunk.from_array(np.full(250, float(s), np.float32), start_ns=t0 + s * 10**9,
                                        quality=("lead_off",) if lead_off else (), **fields)

    due = [s for s in range(60) if ring.add(chunk(s)) is not None]
    assert due == [29, 39, 49, 59]
    assert ring.add(chunk(59)) is None  # a replayed chunk changes nothing
    assert ring.add(chunk(60, lead_off=True)) is None
    windows = {s: w for s in range(61, 100) if (w := ring.add(chunk(s))) is not None}
    assert list(windows) == [90]
    assert windows[90].shape == (7500,) and windows[90][0] == 61.0 and windows[90][-1] == 90.0
