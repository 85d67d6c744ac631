"""The scenario simulator: files, determinism, labels, waveform/numeric consistency, each scenario's effect."""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path

import msgspec
import neurokit2 as nk
import numpy as np
import pytest

from wardwatch.errors import ConfigurationError
from wardwatch.streams.codec import encode
from wardwatch.streams.records import NumericObservation, Record, WaveformChunk
from wardwatch.streams.scenarios import (
    DATA_DIR,
    ScenarioRunner,
    WardPlan,
    load_ward,
    resolve_plan,
    scenario_catalog,
    write_labels,
)
from wardwatch.streams.scenarios.model import EventPlan
from wardwatch.streams.signals import lookup

T0 = 1_790_000_000_000_000_000
S = 1_000_000_000
SECRET = b"test-pseudonym-secret-0123456789"
CATALOG = scenario_catalog()


def one_bed(*events: EventPlan, seconds: float = 600, wearable: bool = False, seed: int = 7, **baseline: float) -> WardPlan:
    return msgspec.convert({"name": "ward-t", "seed": seed, "duration_s": seconds, "nibp_every_s": 60, "temp_every_s": 60,
                            "beds": [{"bed": "01", "patient": "SIM-T-0001", "wearable": wearable, "baseline": baseline,
                                      "events": [msgspec.to_builtins(e) for e in events]}]}, WardPlan)


def run(plan: WardPlan, seconds: int, waveforms: bool = True) -> list[Record]:
    runner = ScenarioRunner(plan, SECRET, T0, CATALOG, waveforms=waveforms)
    out: list[Record] = []
    for _ in range(seconds):
        out += runner.step()
    return out


def numeric(records: list[Record], signal: str) -> dict[int, float]:
    """Second after T0 → value."""
    return {(r.timestamp_ns - T0) // S: r.value for r in records if isinstance(r, NumericObservation) and r.signal == signal}


def wave(records: list[Record], signal: str) -> tuple[np.ndarray, list[WaveformChunk]]:
    chunks = sorted((r for r in records if isinstance(r, WaveformChunk) and r.signal == signal), key=lambda c: c.start_ns)
    return (np.concatenate([c.values() for c in chunks]) if chunks else np.array([])), chunks


def detected_rate(ecg_mv: np.ndarray) -> tuple[float, float]:
    """neurokit2's R peaks → (rate bpm, coefficient of variation of RR)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_peaks(ecg_mv, sampling_rate=250)
    rr = np.diff(info["ECG_R_Peaks"]) / 250.0
    return 60.0 / float(np.mean(rr)), float(np.std(rr) / np.mean(rr))


# --- files -----------------------------------------------------------------------------------------

def test_every_scenario_file_loads_with_a_label_and_demo() -> None:
    expected = {"sepsis", "acute-desaturation", "new-af", "bradycardia", "vt-run", "asystole", "motion-artefact", "lead-off",
                "probe-off", "sensor-dropout", "battery-low"}
    assert expected <= set(CATALOG)
    for spec in CATALOG.values():
        assert spec.label and spec.description and spec.duration_s > 0
        plan = resolve_plan(spec.name)
        assert len(plan.beds) == 1 and plan.beds[0].events[0].scenario == spec.name


def test_demo_ward_has_eight_beds_stable_and_eventful() -> None:
    ward = load_ward(DATA_DIR / "demo-ward.toml")
    assert len(ward.beds) == 8 and len({b.bed for b in ward.beds}) == 8
    stable = [b for b in ward.beds if not b.events]
    assert len(stable) >= 2 and len(ward.beds) - len(stable) >= 4
    assert {e.scenario for b in ward.beds for e in b.events} >= {"new-af", "sepsis", "acute-desaturation", "vt-run"}
    assert resolve_plan("demo-ward") == ward


def test_json_ward_file_is_the_same_as_toml(tmp_path: Path) -> None:
    import tomllib

    path = tmp_path / "ward.json"
    path.write_text(json.dumps(tomllib.loads((DATA_DIR / "demo-ward.toml").read_text())))
    assert load_ward(path) == load_ward(DATA_DIR / "demo-ward.toml")


@pytest.mark.parametrize(("ward", "match"), [
    ('[ward]\nname = "w"\n[[beds]]\nbed = "1"\npatient = "P"\nevents = [{scenario = "no-such", onset_s = 1}]', "no scenario named"),
    ('[ward]\nname = "w"\n[[beds]]\nbed = "1"\npatient = "P"\nevents = [{scenario = "new-af", onset_s = 1, params = {rate = 3}}]',
     "unknown parameter"),
    ('[ward]\nname = "w"\n[[beds]]\nbed = "1"\npatient = "P"\n[[beds]]\nbed = "1"\npatient = "Q"', "same label"),
    ('[ward]\nname = "w"\nseeed = 3\n[[beds]]\nbed = "1"\npatient = "P"', "seeed"),
    ('[ward]\nname = "w"\n[[beds]]\nbed = "1"\npatient = "P"\nbaseline = {hr_bpm = 500}', "hr_bpm"),
    ("[ward\n", "not valid TOML"),
])
def test_bad_ward_files_say_what_is_wrong(tmp_path: Path, ward: str, match: str) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(ward)
    with pytest.raises(ConfigurationError, match=match):
        load_ward(path, CATALOG)


# --- determinism, labels, privacy --------------------------------------------------------------------

def test_same_seed_same_records_other_seed_other_records() -> None:
    plan = one_bed(EventPlan(scenario="new-af", onset_s=20), seconds=60)
    a = [encode(r) for r in run(plan, 40)]
    assert a == [encode(r) for r in run(plan, 40)]
    assert a != [encode(r) for r in run(one_bed(EventPlan(scenario="new-af", onset_s=20), seconds=60, seed=8), 40)]


def test_labels_at_the_onsets(tmp_path: Path) -> None:
    ward = load_ward(DATA_DIR / "demo-ward.toml")
    runner = ScenarioRunner(ward, SECRET, T0, CATALOG, waveforms=False)
    labels = runner.labels()
    by_bed = defaultdict(list)
    for lab in labels:
        by_bed[lab.bed].append((lab.label, (lab.onset_ns - T0) / S, (lab.end_ns - T0) / S))
    assert by_bed["02"] == [("atrial_fibrillation", 600.0, 3000.0)]
    assert by_bed["06"] == [("ventricular_tachycardia", 1200.0, 1220.0), ("lead_off", 2400.0, 2520.0)]
    assert ("sepsis_deterioration", 300.0, 3600.0) in by_bed["03"]
    assert all(lab.patient_ref == runner.patients[lab.bed] for lab in labels)
    assert [lab.onset_ns for lab in labels] == sorted(lab.onset_ns for lab in labels)
    short = runner.labels(duration_s=1000)  # a shorter run: later events left out, ends cut
    assert max(lab.onset_ns for lab in short) < T0 + 1000 * S and max(lab.end_ns for lab in short) <= T0 + 1000 * S
    out = tmp_path / "labels.jsonl"
    write_labels(labels, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0].keys() == {"ward", "bed", "patient_ref", "label", "scenario", "onset_ns", "end_ns"} and len(rows) == len(labels)


def test_records_are_canonical_and_carry_no_identifier() -> None:
    records = run(one_bed(seconds=130, wearable=True), 121)
    for r in records:
        assert b"SIM-T" not in encode(r).upper()
        if isinstance(r, (NumericObservation, WaveformChunk)):
            assert r.unit == lookup(r.signal).unit
    signals = {r.signal for r in records if isinstance(r, (NumericObservation, WaveformChunk))}
    assert signals == {"MDC_ECG_HEART_RATE", "MDC_PULS_OXIM_SAT_O2", "MDC_RESP_RATE", "MDC_PRESS_BLD_NONINV_SYS",
                       "MDC_PRESS_BLD_NONINV_DIA", "MDC_TEMP_BODY", "MDC_TEMP_SKIN", "MDC_ECG_ELEC_POTL_II", "MDC_PULS_OXIM_PLETH",
                       "MDC_IMPED_TTHOR", "WARDWATCH_ACCEL_X", "WARDWATCH_ACCEL_Y", "WARDWATCH_ACCEL_Z"}


def test_chunks_are_contiguous_at_every_rate() -> None:
    records = run(one_bed(seconds=10), 10)
    for signal, fs in (("MDC_ECG_ELEC_POTL_II", 250.0), ("MDC_PULS_OXIM_PLETH", 125.0), ("MDC_IMPED_TTHOR", 62.5)):
        _, chunks = wave(records, signal)
        assert len(chunks) == 10 and all(c.fs_hz == fs for c in chunks)
        assert sum(c.n_samples for c in chunks) == int(10 * fs)
        for a, b in zip(chunks, chunks[1:]):
            assert abs(b.start_ns - a.end_ns) <= 1  # the next chunk starts one sample period after the last sample
    assert [c.n_samples for c in wave(records, "MDC_IMPED_TTHOR")[1]][:4] == [63, 62, 63, 62]


def test_waveforms_have_no_step_at_chunk_borders() -> None:
    records = run(one_bed(seconds=60), 60)
    for signal in ("MDC_ECG_ELEC_POTL_II", "MDC_PULS_OXIM_PLETH", "MDC_IMPED_TTHOR"):
        values, chunks = wave(records, signal)
        steps = np.abs(np.diff(values))
        borders = np.cumsum([c.n_samples for c in chunks])[:-1] - 1
        assert steps[borders].max() <= np.percentile(steps, 99.9), signal


# --- numerics consistent with the waveforms ---------------------------------------------------------

@pytest.mark.parametrize("hr_bpm", [52.0, 75.0, 110.0])
def test_hr_numeric_matches_the_rate_detected_in_the_ecg(hr_bpm: float) -> None:
    records = run(one_bed(seconds=70, hr_bpm=hr_bpm), 70)
    ecg, _ = wave(records, "MDC_ECG_ELEC_POTL_II")
    rate, cv = detected_rate(ecg[10 * 250:70 * 250])
    shown = np.mean([v for s, v in numeric(records, "MDC_ECG_HEART_RATE").items() if s >= 18])
    assert abs(rate - shown) < 3.0 and abs(rate - hr_bpm) < 12.0 and cv < 0.06


def test_new_af_is_irregular_without_p_waves_and_rate_matches() -> None:
    records = run(one_bed(EventPlan(scenario="new-af", onset_s=60, duration_s=200), seconds=200, hr_bpm=72), 200)
    ecg, _ = wave(records, "MDC_ECG_ELEC_POTL_II")
    before_rate, before_cv = detected_rate(ecg[5 * 250:58 * 250])
    af_rate, af_cv = detected_rate(ecg[70 * 250:200 * 250])
    assert before_cv < 0.06 and af_cv > 0.12
    assert abs(af_rate - 118) < 12 and abs(before_rate - 72) < 10
    shown = np.mean([v for s, v in numeric(records, "MDC_ECG_HEART_RATE").items() if s >= 80])
    assert abs(shown - af_rate) < 4


def test_bradycardia_vt_and_asystole_show_in_the_heart_rate() -> None:
    plan = one_bed(EventPlan(scenario="bradycardia", onset_s=30, duration_s=60), EventPlan(scenario="vt-run", onset_s=120),
                   EventPlan(scenario="asystole", onset_s=170), seconds=200, hr_bpm=78)
    records = run(plan, 200)
    hr = numeric(records, "MDC_ECG_HEART_RATE")
    assert all(34 <= hr[s] <= 44 for s in range(45, 90))
    assert all(hr[s] > 160 for s in range(131, 140))
    assert all(hr[s] == 0 for s in range(177, 182))  # 6 s without a beat: asystole
    spo2 = numeric(records, "MDC_PULS_OXIM_SAT_O2")
    assert not [s for s in spo2 if 176 <= s < 182]  # no pulse, no SpO2
    ecg, _ = wave(records, "MDC_ECG_ELEC_POTL_II")
    assert np.ptp(ecg[172 * 250:181 * 250]) < 0.4  # flat but for wander and noise


def test_sepsis_deteriorates_every_vital_gradually() -> None:
    plan = one_bed(EventPlan(scenario="sepsis", onset_s=300, duration_s=7200, params={"ramp_s": 6000}), seconds=7200,
                   hr_bpm=76, spo2_pct=97, rr_per_min=15, sbp_mmhg=128, temp_c=36.8)
    records = run(plan, 6600, waveforms=False)

    def mean(signal: str, lo: int, hi: int) -> float:
        return float(np.mean([v for s, v in numeric(records, signal).items() if lo <= s < hi]))

    early, late, mid = (0, 300), (6000, 6600), (3000, 3600)
    assert mean("MDC_ECG_HEART_RATE", *late) - mean("MDC_ECG_HEART_RATE", *early) > 25
    assert mean("MDC_RESP_RATE", *late) - mean("MDC_RESP_RATE", *early) > 7
    assert mean("MDC_TEMP_BODY", *late) - mean("MDC_TEMP_BODY", *early) > 1.3
    assert mean("MDC_PRESS_BLD_NONINV_SYS", *early) - mean("MDC_PRESS_BLD_NONINV_SYS", *late) > 25
    assert mean("MDC_PULS_OXIM_SAT_O2", *early) - mean("MDC_PULS_OXIM_SAT_O2", *late) > 3
    hr_mid = mean("MDC_ECG_HEART_RATE", *mid)
    assert mean("MDC_ECG_HEART_RATE", *early) + 5 < hr_mid < mean("MDC_ECG_HEART_RATE", *late) - 5  # gradual


def test_acute_desaturation_and_recovery() -> None:
    records = run(one_bed(EventPlan(scenario="acute-desaturation", onset_s=60), seconds=600, spo2_pct=97), 600)
    spo2 = numeric(records, "MDC_PULS_OXIM_SAT_O2")
    assert np.mean([spo2[s] for s in range(5, 60)]) > 95  # SpO2 shows once pulses have come
    assert np.mean([spo2[s] for s in range(160, 360)]) < 86
    assert np.mean([spo2[s] for s in range(500, 600)]) > 94


# --- technical scenarios -----------------------------------------------------------------------------

def test_lead_off_and_probe_off_flatten_flag_and_drop_numerics() -> None:
    plan = one_bed(EventPlan(scenario="lead-off", onset_s=20, duration_s=10), EventPlan(scenario="probe-off", onset_s=40, duration_s=10),
                   seconds=60)
    records = run(plan, 60)
    _, ecg = wave(records, "MDC_ECG_ELEC_POTL_II")
    _, ppg = wave(records, "MDC_PULS_OXIM_PLETH")
    assert [i for i, c in enumerate(ecg) if c.quality == ("lead_off",)] == list(range(20, 30))
    assert [i for i, c in enumerate(ppg) if c.quality == ("probe_off",)] == list(range(40, 50))
    assert all(np.all(ecg[i].values() == 0) for i in range(20, 30))
    assert not set(range(20, 30)) & set(numeric(records, "MDC_ECG_HEART_RATE"))
    assert not set(range(40, 50)) & set(numeric(records, "MDC_PULS_OXIM_SAT_O2"))
    assert set(range(40, 50)) <= set(numeric(records, "MDC_ECG_HEART_RATE"))


def test_sensor_dropout_sends_nothing() -> None:
    records = run(one_bed(EventPlan(scenario="sensor-dropout", onset_s=10, duration_s=15), seconds=40), 40)
    seconds = {((r.timestamp_ns if isinstance(r, NumericObservation) else r.start_ns) - T0) // S for r in records}  # type: ignore[union-attr]
    assert seconds == set(range(40)) - set(range(10, 25))


def test_motion_artefact_moves_the_accelerometer_and_corrupts_ppg() -> None:
    records = run(one_bed(EventPlan(scenario="motion-artefact", onset_s=30, duration_s=30), seconds=90, wearable=True), 90)
    ax, _ = wave(records, "WARDWATCH_ACCEL_X")
    still, moving = np.std(ax[0:25 * 29]), np.std(ax[25 * 31:25 * 59])
    assert moving > 10 * still
    ppg, _ = wave(records, "MDC_PULS_OXIM_PLETH")
    assert np.std(ppg[125 * 31:125 * 59]) > 2 * np.std(ppg[0:125 * 29])
    spo2 = numeric(records, "MDC_PULS_OXIM_SAT_O2")
    assert min(spo2[s] for s in range(30, 60)) < min(spo2[s] for s in range(5, 30)) - 2  # false dips


def test_battery_low_flags_every_record_of_the_bed() -> None:
    records = run(one_bed(EventPlan(scenario="battery-low", onset_s=10, duration_s=10), seconds=30, wearable=True), 30)
    for r in records:
        when = ((r.timestamp_ns if isinstance(r, NumericObservation) else r.start_ns) - T0) // S  # type: ignore[union-attr]
        assert ("battery_low" in r.quality) == (10 <= when < 20), r  # type: ignore[union-attr]


def test_events_override_scenario_parameters() -> None:
    plan = one_bed(EventPlan(scenario="bradycardia", onset_s=0, duration_s=60, params={"rate_bpm": 45}), seconds=60)
    hr = numeric(run(plan, 60), "MDC_ECG_HEART_RATE")
    assert all(41 <= hr[s] <= 49 for s in range(15, 60))


def test_bed_plan_baseline_is_used() -> None:
    records = run(one_bed(seconds=5, sbp_mmhg=150, dbp_mmhg=95, temp_c=38.2), 1, waveforms=False)
    assert abs(numeric(records, "MDC_PRESS_BLD_NONINV_SYS")[0] - 150) < 10
    assert abs(numeric(records, "MDC_TEMP_BODY")[0] - 38.2) < 0.4
