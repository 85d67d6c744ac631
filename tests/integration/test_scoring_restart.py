"""Kill the worker mid-stream, restart it: the NEWS2 and trend features equal an uninterrupted run."""

from __future__ import annotations

import signal
from pathlib import Path

import msgspec
from kafka import KafkaConsumer, KafkaProducer

from wardwatch.models.scoring import PatientScorer, ScoringConfig
from wardwatch.streams.codec import decode, encode
from wardwatch.streams.records import Features
from wardwatch.streams.simulator import WardSimulator

from ..conftest import TEST_SECRET
from .conftest import Isolated, WorkerProcess, wait_for

T0 = 1_790_000_000_000_000_000


def test_restart_mid_stream_gives_the_uninterrupted_scores(isolated: Isolated, tmp_path: Path) -> None:
    env = dict(isolated.env, WARDWATCH_SCORE_EMIT_EVERY_S="20")
    cfg = ScoringConfig(emit_every_s=20.0)  # the defaults of WARDWATCH_SCORE_* but the cadence
    sim = WardSimulator("ward-a", patients=3, seed=5, secret=TEST_SECRET.encode(), start_ns=T0)
    records = [r for _ in range(420) for r in sim.step()]  # 7 min of event time, numerics only

    expected: dict[tuple[str, str, int], bytes] = {}
    scorers: dict[str, PatientScorer] = {}
    for r in records:
        s = scorers.setdefault(r.patient_ref, PatientScorer(r.patient_ref, r.ward, r.bed, cfg))
        for f in s.observe(r):
            expected[(f.patient_ref, f.source, f.timestamp_ns)] = msgspec.msgpack.encode(f)

    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all")
    numerics = isolated.topics["numerics"]
    half = len(records) // 2

    def produce(part: list) -> None:
        for r in part:
            producer.send(numerics, key=r.patient_ref.encode(), value=encode(r))
        producer.flush()

    consumer = KafkaConsumer(isolated.topics["features"], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=500, group_id=None)
    seen: list[Features] = []

    def collect(until_ns: int) -> bool:
        """Whether every expected feature up to ``until_ns`` has arrived."""
        seen.extend(decode(m.value, Features) for m in consumer)
        keys = {(f.patient_ref, f.source, f.timestamp_ns) for f in seen}
        return all(k in keys for k in expected if k[2] <= until_ns)

    first = WorkerProcess(env, tmp_path / "worker-1.log")
    try:
        produce(records[:half])
        first_half_last = max(k[2] for k in expected if k[2] <= records[half - 1].timestamp_ns)
        wait_for(lambda: collect(first_half_last), timeout=120, what="features from the first worker")
        first.proc.send_signal(signal.SIGKILL)  # no clean shutdown: no final commit, no flush
        first.proc.wait(timeout=30)
    finally:
        first.stop()
    second = WorkerProcess(env, tmp_path / "worker-2.log")
    try:
        produce(records[half:])
        wait_for(lambda: collect(max(k[2] for k in expected)), timeout=180, what="features up to the last evaluation after the restart")
        assert second.alive(), second.output()[-3000:]
    finally:
        second.stop()
        producer.close()
        consumer.close()

    got: dict[tuple[str, str, int], bytes] = {}
    for f in seen:
        key = (f.patient_ref, f.source, f.timestamp_ns)
        data = msgspec.msgpack.encode(f)
        # at-least-once delivery may repeat a record; a repeat must be identical
        assert got.setdefault(key, data) == data, f"two different features for {key}"
    assert got == expected
