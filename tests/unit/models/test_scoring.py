from __future__ import annotations

import math

import msgspec

from wardwatch.models.news2 import news2, windowed_inputs
from wardwatch.models.scoring import PatientScorer, ScoringConfig
from wardwatch.streams.records import ChartedEvent, Features, NumericObservation
from wardwatch.streams.simulator import WardSimulator

T0 = 1_790_000_000_000_000_000
SECRET = b"scoring-test-secret-0123456789"


def ward_records(steps: int = 600, patients: int = 2) -> list[NumericObservation | ChartedEvent]:
    sim = WardSimulator("ward-a", patients=patients, seed=11, secret=SECRET, start_ns=T0)
    out: list[NumericObservation | ChartedEvent] = list(sim.admission_events())
    for _ in range(steps):
        out += sim.step()
    return out


def run(records, scorers: dict[str, PatientScorer] | None = None, cfg: ScoringConfig | None = None) -> list[Features]:
    scorers = {} if scorers is None else scorers
    out: list[Features] = []
    for r in records:
        s = scorers.get(r.patient_ref)
        if s is None:
            s = scorers[r.patient_ref] = PatientScorer(r.patient_ref, r.ward, r.bed, cfg or ScoringConfig())
        out += s.observe(r)
    return out


def same(a: list[Features], b: list[Features]) -> bool:
    # msgspec equality treats NaN != NaN; compare the encoded bytes instead
    return [msgspec.msgpack.encode(x) for x in a] == [msgspec.msgpack.encode(x) for x in b]


def test_emits_news2_and_trends_on_the_cadence() -> None:
    out = run(ward_records(steps=300), cfg=ScoringConfig(emit_every_s=30))
    news = [f for f in out if f.source == "news2"]
    trends = [f for f in out if f.source == "trends"]
    assert len(news) == len(trends)
    per_patient = {}
    for f in news:
        per_patient.setdefault(f.patient_ref, []).append(f.timestamp_ns)
    for stamps in per_patient.values():
        # one evaluation per admission event (2, at T0), then one in each 30-s slot of event time
        # (the first slot boundary after T0 is T0 + 10 s: slots are aligned to the epoch)
        assert stamps[:3] == [T0, T0, T0 + 10 * 10**9]
        assert all(b - a == 30 * 10**9 for a, b in zip(stamps[2:], stamps[3:]))
        assert len(stamps) == 12
    assert all(f.flags == () and f.values["news2.missing"] == 0 for f in news if f.timestamp_ns > T0)
    assert "hr.level" in trends[-1].values and "since_charted.consciousness_s" in trends[-1].values


def test_news2_equals_the_pure_function_on_the_same_window() -> None:
    records = ward_records(steps=200, patients=1)
    cfg = ScoringConfig(emit_every_s=60)
    last = [f for f in run(records, cfg=cfg) if f.source == "news2"][-1]
    samples: dict[str, list[tuple[int, float]]] = {}
    events = [r for r in records if isinstance(r, ChartedEvent)]
    for r in records:
        if isinstance(r, NumericObservation) and r.timestamp_ns <= last.timestamp_ns:
            samples.setdefault(r.signal, []).append((r.timestamp_ns, r.value))
    expected = news2(windowed_inputs(samples, now_ns=last.timestamp_ns, window_s=cfg.window_s,
                                     window_s_by_signal=cfg.window_s_by_signal, events=events))
    assert last.values["news2.total"] == expected.total
    assert last.values["news2.air_or_oxygen"] == 0 and last.values["news2.consciousness"] == 0


def test_replayed_records_change_nothing() -> None:
    records = ward_records(steps=240)
    scorers: dict[str, PatientScorer] = {}
    first = run(records[:700], scorers)
    again = run(records[:700], scorers)  # a replay after a restart: everything seen already
    rest = run(records[700:], scorers)
    assert again == []
    assert same(first + rest, run(records))


def test_state_round_trip_mid_stream_continues_identically() -> None:
    records = ward_records(steps=600)
    cut = len(records) // 2
    scorers: dict[str, PatientScorer] = {}
    before = run(records[:cut], scorers)
    restored = {
        ref: PatientScorer.from_state(ref, msgspec.msgpack.decode(msgspec.msgpack.encode(s.to_state())))
        for ref, s in scorers.items()
    }
    after = run(records[cut:], restored)
    assert same(before + after, run(records))


def test_oxygen_and_confusion_are_scored_from_charted_events() -> None:
    records = ward_records(steps=60, patients=1)
    ref, bed = records[0].patient_ref, records[0].bed
    t = T0 + 61 * 10**9
    late = [
        ChartedEvent(patient_ref=ref, ward="ward-a", bed=bed, source="nurse", timestamp_ns=t, event="supplemental_oxygen", value="on"),
        ChartedEvent(patient_ref=ref, ward="ward-a", bed=bed, source="nurse", timestamp_ns=t, event="consciousness", value="C"),
    ]
    out = run(records + late)
    final = [f for f in out if f.source == "news2"][-1]
    assert final.values["news2.air_or_oxygen"] == 2 and final.values["news2.consciousness"] == 3
    assert final.values["news2.any_single_3"] == 1.0
    assert final.values["news2.total"] >= 5
    trends = [f for f in out if f.source == "trends"][-1]
    assert trends.values["since_charted.consciousness_s"] == 0.0
    assert math.isnan(trends.values["since_charted.transfer_s"])
