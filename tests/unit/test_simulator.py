from __future__ import annotations

from collections import Counter

import numpy as np

from wardwatch.streams.signals import SIGNALS, VITAL_SIGNS
from wardwatch.streams.simulator import WardSimulator

T0 = 1_790_000_000_000_000_000


def run(seed: int, steps: int, secret: bytes, patients: int = 8) -> list[tuple[str, str, int, float]]:
    sim = WardSimulator("ward-a", patients=patients, seed=seed, secret=secret, start_ns=T0)
    out = []
    for _ in range(steps):
        out += [(r.patient_ref, r.signal, r.timestamp_ns, r.value) for r in sim.step()]
    return out


def test_same_seed_same_ward(secret: bytes) -> None:
    assert run(7, 120, secret) == run(7, 120, secret)


def test_other_seed_other_ward(secret: bytes) -> None:
    assert run(7, 30, secret) != run(8, 30, secret)


def test_first_step_has_all_six_vitals_for_every_patient(secret: bytes) -> None:
    sim = WardSimulator("ward-a", patients=8, seed=1, secret=secret, start_ns=T0)
    first = sim.step()
    assert len(first) == 8 * 6
    assert Counter(r.signal for r in first) == {s: 8 for s in VITAL_SIGNS}
    assert {r.timestamp_ns for r in first} == {T0}
    assert len({r.patient_ref for r in first}) == 8 and len({r.bed for r in first}) == 8


def test_cadence_and_timestamps(secret: bytes) -> None:
    sim = WardSimulator("ward-a", patients=2, seed=1, secret=secret, start_ns=T0, interval_s=1.0)
    per_signal: Counter[str] = Counter()
    for _ in range(180):
        for r in sim.step():
            per_signal[r.signal] += 1
    assert per_signal["MDC_ECG_HEART_RATE"] == 2 * 180
    assert per_signal["MDC_PRESS_BLD_NONINV_SYS"] == 2 * 3  # at 0, 60, 120 s
    assert per_signal["MDC_TEMP_BODY"] == 2 * 3
    assert sim.now_ns == T0 + 180 * 1_000_000_000


def test_individual_baselines_noise_and_bounded_drift(secret: bytes) -> None:
    sim = WardSimulator("ward-a", patients=8, seed=3, secret=secret, start_ns=T0, interval_s=5.0)
    hr: dict[str, list[float]] = {}
    for _ in range(int(4 * 3600 / 5)):  # four simulated hours
        for r in sim.step():
            if r.signal == "MDC_ECG_HEART_RATE":
                hr.setdefault(r.patient_ref, []).append(r.value)
            spec = SIGNALS[r.signal]
            assert spec.plausible(r.value)
    means = np.array([np.mean(v) for v in hr.values()])
    sds = np.array([np.std(v) for v in hr.values()])
    assert means.max() - means.min() > 5  # patients differ
    assert (sds > 0.5).all() and (sds < 15).all()  # alive, but a stable ward
    assert all(45 <= min(v) and max(v) <= 120 for v in hr.values())


def test_no_identifier_leaves_the_simulator(secret: bytes) -> None:
    sim = WardSimulator("ward-a", patients=3, seed=1, secret=secret, start_ns=T0)
    for r in sim.step():
        assert "SIM" not in r.patient_ref and r.patient_ref.startswith("p-")
