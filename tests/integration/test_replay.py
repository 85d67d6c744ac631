"""Replay of real recordings and scripted scenarios into the real Kafka.

Reads the recordings under ../shared/data (WARDWATCH_DATA_DIR); fails, does not skip, without them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import wfdb
from kafka import KafkaConsumer

from wardwatch.streams.adapters.wfdb_replay import WAVEFORM_CHANNELS, data_dir, replay
from wardwatch.streams.codec import decode
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import ChartedEvent, NumericObservation, WaveformChunk

from ..conftest import TEST_SECRET
from .conftest import Isolated, wait_for

T0 = 1_790_000_000_000_000_000


def _collect(isolated: Isolated, key: str, n: int, what: str) -> list[Any]:
    consumer = KafkaConsumer(isolated.topics[key], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=500, group_id=None)
    got: list[Any] = []
    try:
        wait_for(lambda: len(got.__iadd__([decode(m.value) for m in consumer])) >= n, timeout=60, what=what)
        got += [decode(m.value) for m in consumer]
    finally:
        consumer.close()
    return got


def test_waveform_replay_samples_equal_the_record(isolated: Isolated) -> None:
    name = "a104s"  # II, V, PLETH at 250 Hz
    summary = asyncio.run(replay(isolated.settings, f"challenge2015/{name}", None, start=str(T0), from_s=290, duration_s=5))
    assert summary.sent == 15 and summary.skipped_channels == {}
    chunks: list[WaveformChunk] = _collect(isolated, "waveforms", summary.sent, "the replayed chunks")
    assert len(chunks) == summary.sent  # nothing twice
    digital = wfdb.rdrecord(str(data_dir() / "challenge2015" / name), sampfrom=290 * 250, sampto=295 * 250, physical=False)
    ref = pseudonymize(name, TEST_SECRET.encode())
    for i, channel in enumerate(digital.sig_name):
        mine = sorted((c for c in chunks if c.signal == WAVEFORM_CHANNELS[channel.upper()]), key=lambda c: c.start_ns)
        assert [c.start_ns for c in mine] == [T0 + k * 1_000_000_000 for k in range(5)]  # the first replayed sample at --start
        assert all(c.patient_ref == ref and c.fs_hz == 250.0 and c.gain == digital.adc_gain[i] for c in mine)
        raw = np.concatenate([np.frombuffer(c.samples, "<i2") for c in mine])
        np.testing.assert_array_equal(raw, digital.d_signal[:, i])  # the record's samples, exactly


def test_numerics_replay_slice(isolated: Isolated) -> None:
    summary = asyncio.run(replay(isolated.settings, "mimic-mitdb/s00001-2896-10-10-00-31n", None, start=str(T0),
                                 from_s=100 * 60, duration_s=3 * 60, bed="12"))
    assert summary.sent == 15
    records: list[NumericObservation] = _collect(isolated, "numerics", 15, "the replayed numerics")
    by_time: dict[int, dict[str, float]] = {}
    for r in records:
        assert r.bed == "12" and r.patient_ref == pseudonymize("s00001-2896-10-10-00-31n", TEST_SECRET.encode())
        by_time.setdefault(r.timestamp_ns, {})[r.signal] = r.value
    assert sorted(by_time) == [T0, T0 + 60_000_000_000, T0 + 120_000_000_000]
    assert by_time[T0] == {"MDC_ECG_HEART_RATE": 55.0, "MDC_PULS_OXIM_PULS_RATE": 54.4, "MDC_RESP_RATE": 8.9, "MDC_PULS_OXIM_SAT_O2": 99.4}
    assert by_time[T0 + 120_000_000_000]["MDC_PRESS_BLD_NONINV_SYS"] == 139.0
    assert by_time[T0 + 120_000_000_000]["MDC_PRESS_BLD_NONINV_DIA"] == 61.0


def test_replay_command_paces_in_real_time_scaled(isolated: Isolated) -> None:
    proc = subprocess.run([sys.executable, "-m", "wardwatch", "replay", "mimic-mitdb/03700181", "--speed", "4", "--duration", "6"],
                          env=isolated.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "sent 18 records" in proc.stdout
    chunks: list[WaveformChunk] = _collect(isolated, "waveforms", 18, "the chunks of the CLI replay")
    assert {c.signal for c in chunks} == {"MDC_ECG_ELEC_POTL_V", "MDC_PRESS_BLD_ART_ABP", "MDC_IMPED_TTHOR"}
    assert "03700181" not in proc.stdout + proc.stderr  # only the pseudonymous reference is printed or logged


def test_scenario_run_to_kafka_with_labels(isolated: Isolated, tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    proc = subprocess.run([sys.executable, "-m", "wardwatch", "scenario", "run", "vt-run", "--fast", "--duration", "90",
                           "--labels", str(labels)], env=isolated.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (label,) = [json.loads(line) for line in labels.read_text().splitlines()]
    assert label["label"] == "ventricular_tachycardia" and label["end_ns"] - label["onset_ns"] == 20_000_000_000
    numerics: list[NumericObservation] = _collect(isolated, "numerics", 90 * 3, "the scenario's numerics")
    hr = {r.timestamp_ns: r.value for r in numerics if r.signal == "MDC_ECG_HEART_RATE"}
    assert all(r.patient_ref == label["patient_ref"] for r in numerics)
    during = [v for t, v in hr.items() if label["onset_ns"] + 10_000_000_000 <= t < label["end_ns"]]
    before = [v for t, v in hr.items() if t < label["onset_ns"]]
    assert during and min(during) > 150 and max(before) < 120  # the VT run shows in the heart rate
    chunks: list[WaveformChunk] = _collect(isolated, "waveforms", 90 * 3, "the scenario's waveforms")
    assert {c.signal for c in chunks} == {"MDC_ECG_ELEC_POTL_II", "MDC_PULS_OXIM_PLETH", "MDC_IMPED_TTHOR"}
    events: list[ChartedEvent] = _collect(isolated, "events", 2, "the admission events")
    assert {(e.event, e.value) for e in events} == {("supplemental_oxygen", "off"), ("consciousness", "A")}
