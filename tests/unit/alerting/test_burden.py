"""The alarm-burden simulator: exact counts, label matching and delays, naive against default rules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from wardwatch.alerting.burden import CATCHES, AlarmRecord, BurdenSimulator, Source, open_source, run_burden, summarize
from wardwatch.cli import cli
from wardwatch.cli_burden import load_rule_sets
from wardwatch.errors import ConfigurationError
from wardwatch.streams.records import NumericObservation
from wardwatch.streams.scenarios.model import Label

from .helpers import S, T0, t

A = "p-aaaaaaaaaaaaaaaaaaaa"
B = "p-bbbbbbbbbbbbbbbbbbbb"
_UNITS = {"MDC_PULS_OXIM_SAT_O2": "%", "MDC_ECG_HEART_RATE": "/min", "MDC_RESP_RATE": "/min"}
RULES = load_rule_sets(["default", "naive"])


def obs(ref: str, bed: str, signal: str, at_s: float, value: float, quality: tuple[str, ...] = ()) -> NumericObservation:
    return NumericObservation(patient_ref=ref, ward="ward-a", bed=bed, device_id="mon", signal=signal, unit=_UNITS[signal],
                              timestamp_ns=t(at_s), value=float(value), quality=quality)  # type: ignore[arg-type]


def seconds(ref: str, bed: str, n: int, **signals: object) -> list[list[NumericObservation]]:
    """One batch per second; each signal's values are a callable of the second (None: nothing sent)."""
    codes = {"hr": "MDC_ECG_HEART_RATE", "spo2": "MDC_PULS_OXIM_SAT_O2", "rr": "MDC_RESP_RATE"}
    out = []
    for k in range(n):
        batch = []
        for short, fn in signals.items():
            v = fn(k)  # type: ignore[operator]
            if v is not None:
                batch.append(obs(ref, bed, codes[short], k, v))
        out.append(batch)
    return out


def source(batches: list[list[NumericObservation]], refs: dict[str, str], run_s: int, labels: list[Label] | None) -> Source:
    return Source(name="synthetic", kind="test", batches=batches, monitored_s=dict.fromkeys(refs, float(run_s)), beds=refs,
                  end_ns=t(run_s), labels=labels)


def merge(*streams: list[list[NumericObservation]]) -> list[list[NumericObservation]]:
    return [sum(parts, []) for parts in zip(*streams)]


def _two_patients() -> list[list[NumericObservation]]:
    # A: two runs of HR 160 for 40 s; B: SpO2 stops at 99 s while heart rate goes on.
    a = seconds(A, "01", 300, hr=lambda k: 160 if 60 <= k < 100 or 200 <= k < 240 else 80, spo2=lambda k: 97, rr=lambda k: 15)
    b = seconds(B, "02", 300, hr=lambda k: 72, spo2=lambda k: 98 if k < 100 else None, rr=lambda k: 14)
    return merge(a, b)


def test_counts_on_a_small_synthetic_stream_are_exact_and_deterministic() -> None:
    runs = []
    for _ in range(2):
        src = source(_two_patients(), {A: "01", B: "02"}, 300, None)
        runs.append(run_burden(src, {"ward-default": RULES["ward-default"]}, tick_s=2.0)["ward-default"])
    s = runs[0]
    assert s.alarms == 3
    assert s.by_rule == [("hr.high", 2), ("nodata.spo2", 1)]
    assert s.by_kind_priority == {"physiological": {"high": 2, "medium": 0, "low": 0},
                                  "technical": {"high": 0, "medium": 1, "low": 0}}
    assert s.patients == 2 and s.patient_days == pytest.approx(600 / 86_400)
    assert s.per_day(s.alarms) == pytest.approx(3 / (600 / 86_400))
    assert not s.labelled and s.outcomes == [] and runs[1].to_dict() == s.to_dict()

    sim = BurdenSimulator({"d": RULES["ward-default"]}, tick_s=2.0)
    for batch in _two_patients():
        sim.feed(batch)
    sim.finish(t(300))
    got = sorted(((a.bed, a.source, a.priority, (a.onset_ns - T0) // S, a.resolved_ns is not None) for a in sim.alarms["d"]))
    # HR > 150 confirmed after the 20 s delay; no SpO2 after 99 s: the no-data alarm at 99 + 60 s
    assert got == [("01", "hr.high", "high", 80, True), ("01", "hr.high", "high", 220, True), ("02", "nodata.spo2", "medium", 159, False)]


def _desaturation(run_s: int = 400) -> tuple[Source, Label]:
    label = Label("ward-a", "01", A, "desaturation", "acute-desaturation", t(100), t(220))
    batches = seconds(A, "01", run_s, hr=lambda k: 84, rr=lambda k: 16, spo2=lambda k: 84 if 100 <= k < 220 else 97)
    return source(batches, {A: "01"}, run_s, [label]), label


def test_a_labelled_desaturation_is_caught_with_the_expected_delay_under_the_defaults() -> None:
    src, label = _desaturation()
    s = run_burden(src, {"ward-default": RULES["ward-default"]})["ward-default"]
    (outcome,) = s.outcomes
    assert outcome.label == label and outcome.relevant == CATCHES["desaturation"]
    # SatSeconds: 6 %*s below 90 % per second reaches 50 %*s on the 9th second
    assert outcome.caught_by == "spo2.low" and outcome.delay_s == 9.0
    assert s.caught == 1 and s.median_delay_s == s.max_delay_s == 9.0
    assert s.outside_labels == 0 and s.false_by_construction == 0
    # SpO2 84 % also scores NEWS2 3 for one parameter: a low-priority alarm inside the label, not a catch
    assert ("news2", 1) in s.by_rule and s.other_in_label == 1


def test_an_event_alarming_again_counts_as_repeats_not_as_catches() -> None:
    label = Label("ward-a", "01", A, "desaturation", "acute-desaturation", t(100), t(220))
    flapping = seconds(A, "01", 400, hr=lambda k: 84, rr=lambda k: 16,
                       spo2=lambda k: (89 if k % 10 < 5 else 91) if 100 <= k < 220 else 97)  # dips of 5 s, 12 times
    res = run_burden(source(flapping, {A: "01"}, 400, [label]), RULES)
    naive, default = res["naive-thresholds"], res["ward-default"]
    assert (naive.caught, naive.outcomes[0].delay_s, dict(naive.by_rule)["spo2.low"], naive.repeats) == (1, 0.0, 12, 11)
    # the defaults: 5-s dips never hold 15 s and 5 s at 89 % is 5 %*s of SatSeconds: no SpO2 alarm (NEWS2 scores
    # SpO2 <= 91 % as 3: one low-priority NEWS2 alarm, not a catch)
    assert (default.caught, default.repeats, default.by_rule) == (0, 0, [("news2", 1)])


def test_a_label_with_no_relevant_alarm_is_missed_and_alarms_outside_labels_are_counted() -> None:
    src, _ = _desaturation()
    brady = Label("ward-a", "01", A, "bradycardia", "bradycardia", t(300), t(330))
    late = Label("ward-a", "01", A, "desaturation", "acute-desaturation", t(360), t(380))  # no alarm of its own
    src.labels = [brady, late]
    s = run_burden(src, {"ward-default": RULES["ward-default"]})["ward-default"]
    assert [(o.label.label, o.caught_by) for o in s.outcomes] == [("bradycardia", None), ("desaturation", None)]
    assert all(math.isnan(o.delay_s) for o in s.outcomes) and math.isnan(s.median_delay_s)
    assert s.outside_labels == s.alarms == 2  # spo2.low and news2 of the unlabelled desaturation


def test_alarms_during_motion_artefact_are_false_by_construction() -> None:
    label = Label("ward-a", "01", A, "motion_artefact", "motion-artefact", t(0), t(100))
    alarms = [AlarmRecord("a-1", A, "01", "spo2.low", "physiological", "medium", "medium", t(10)),
              AlarmRecord("a-2", A, "01", "spo2.low", "physiological", "medium", "medium", t(500))]
    src = source([], {A: "01"}, 600, [label])
    s = summarize("naive", alarms, src, grace_s=60)
    assert (s.in_artefact, s.outside_labels, s.false_by_construction) == (1, 1, 2)
    assert s.outcomes[0].caught_by is None and s.outcomes[0].relevant == ()


def test_naive_thresholds_raise_more_alarms_than_the_defaults_on_a_noisy_stream() -> None:
    rng = np.random.default_rng(7)
    n = 3600
    spo2 = np.clip(np.round(92.5 + rng.normal(0, 1.5, n)), 80, 100)
    hr = np.round(118 + rng.normal(0, 6, n))
    batches = seconds(A, "01", n, spo2=lambda k: spo2[k], hr=lambda k: hr[k], rr=lambda k: 16)
    res = run_burden(source(batches, {A: "01"}, n, []), RULES)
    naive, default = res["naive-thresholds"], res["ward-default"]
    assert naive.alarms >= 50
    assert naive.alarms > 10 * max(1, default.alarms)
    # no ground truth but a stable patient: every alarm is false by construction
    assert naive.false_by_construction == naive.alarms and default.false_by_construction == default.alarms


def test_open_source_resolves_scenarios_and_wfdb_numerics_and_names_what_it_cannot() -> None:
    src = open_source("vt-run", b"0123456789abcdef0123", waveforms=False)
    assert src.kind == "scenario" and [lab.label for lab in src.labels or []] == ["ventricular_tachycardia"]
    rec = open_source("mimic-mitdb/s00001-2896-10-10-00-31n", b"0123456789abcdef0123", duration_s=6 * 3600)
    assert rec.kind == "wfdb numeric" and rec.labels is None and list(rec.monitored_s.values()) == [pytest.approx(6 * 3600.0)]
    s = run_burden(rec, RULES)
    naive, default = s["naive-thresholds"], s["ward-default"]
    # real minute numerics: a low respiratory rate must last two samples under the defaults, one under naive
    assert dict(naive.by_rule)["rr.low"] > dict(default.by_rule)["rr.low"] > 0
    # minute gaps raise no-data alarms, which only the defaults have
    assert sum(naive.by_kind_priority["technical"].values()) == 0 < default.by_kind_priority["technical"]["medium"]
    with pytest.raises(ConfigurationError, match="neither a scenario name, a ward file nor a WFDB record"):
        open_source("no-such-thing", b"0123456789abcdef0123")


def test_cli_burden_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "burden.json"
    result = CliRunner().invoke(cli, ["alarms", "burden", "bradycardia", "--rules", "default", "--rules", "naive",
                                      "--no-waveforms", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "ward-default" in result.output and "naive-thresholds" in result.output and "hr.low +" in result.output
    doc = json.loads(out.read_text())
    (src,) = doc["sources"]
    for name in ("ward-default", "naive-thresholds"):
        s = src["rule_sets"][name]
        assert s["ground_truth"] and s["label_count"] == 1 and s["caught"] == 1
        assert s["labels"][0]["caught_by"] == "hr.low" and s["labels"][0]["delay_s"] > 0
    # the persistence delay: the default rule fires later than the naive one
    assert src["rule_sets"]["ward-default"]["median_delay_s"] > src["rule_sets"]["naive-thresholds"]["median_delay_s"]
