"""The verify agent's live arrhythmia calls (:class:`~wardwatch.agents.verify.BedMonitor`) on real
recordings fed in one-second chunks, as the waveforms topic carries them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from wardwatch.agents.verify import VERIFY_AFTER_S, WINDOW_N, BedMonitor, Call

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
_CODES = {"II": "MDC_ECG_ELEC_POTL_II", "V": "MDC_ECG_ELEC_POTL_V", "I": "MDC_ECG_ELEC_POTL_I", "III": "MDC_ECG_ELEC_POTL_III",
          "PLETH": "MDC_PULS_OXIM_PLETH", "ABP": "MDC_PRESS_BLD_ART_ABP", "MLII": "MDC_ECG_ELEC_POTL_II", "V5": "MDC_ECG_ELEC_POTL_V"}


def _record(path: Path, seconds: int | None = None) -> tuple[list[Call], BedMonitor]:
    if not path.with_suffix(".hea").is_file():
        pytest.fail(f"missing recording {path}.hea: the shared data folder ../shared/data is needed", pytrace=False)
    rec = wfdb.rdrecord(str(path))
    fs, bed, calls = float(rec.fs), BedMonitor(), []
    n_s = int(rec.p_signal.shape[0] // fs) if seconds is None else seconds
    for s in range(n_s):
        lo, hi = int(round(s * fs)), int(round((s + 1) * fs))
        for j, name in enumerate(rec.sig_name):
            if name in _CODES:
                calls += bed.add(_CODES[name], fs, 1_790_000_000_000_000_000 + s * 10**9, rec.p_signal[lo:hi, j])
    return calls, bed


def _at_s(call: Call) -> float:
    return (call.timestamp_ns - 1_790_000_000_000_000_000) / 1e9


def test_true_asystole_record_gives_an_asystole_call_before_the_monitor_alarm() -> None:
    calls, _ = _record(DATA / "challenge2015" / "a161l")  # 2015 set: asystole, true alarm at 5:00
    on = [c for c in calls if c.name == "asystole" and c.on]
    assert on, calls
    assert 290 <= _at_s(on[0]) <= 301, [(_at_s(c), c.name, c.on) for c in calls]
    window = on[0].window
    assert window is not None and window.shape == (4, WINDOW_N)
    assert np.isfinite(window[0]).all() and np.isfinite(window[2]).all()  # lead II and PLETH present
    assert np.isnan(window[3]).all()  # a161l has no ABP


def test_false_asystole_record_and_normal_sinus_rhythm_give_no_call() -> None:
    calls, _ = _record(DATA / "challenge2015" / "a104s")  # 2015: asystole alarm, false
    assert calls == []
    calls, bed = _record(DATA / "mimic-mitdb" / "100", seconds=300)  # MIT-BIH 100: sinus rhythm, 360 Hz
    assert calls == []
    assert len(bed.beats) == 40 and bed.beats[-1] > 295 * 250  # beats found to the end (the last 40 are kept)
    assert bed.ecg_end == 300 * 250  # resampled 360 -> 250 Hz with no gap


def _beats(rate_bpm: float, seconds: int, fs: float = 250.0) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return sum(np.exp(-((t - b) ** 2) / (2 * 0.012**2)) for b in np.arange(0.5, seconds, 60.0 / rate_bpm))


@pytest.mark.parametrize(("rate", "name"), [(160.0, "tachy_extreme"), (35.0, "brady_extreme")])
def test_extreme_rates_are_called_and_end_when_the_rate_recovers(rate: float, name: str) -> None:
    x = np.concatenate([_beats(rate, 60), _beats(75.0, 40)])
    bed, calls = BedMonitor(), []
    for s in range(100):
        calls += bed.add("MDC_ECG_ELEC_POTL_II", 250.0, s * 10**9, x[s * 250:(s + 1) * 250])
    assert [(c.name, c.on, c.window is not None) for c in calls] == [(name, True, True), (name, True, True), (name, False, False)], calls
    assert calls[1].timestamp_ns - calls[0].timestamp_ns == VERIFY_AFTER_S * 10**9
    assert 60 < calls[2].timestamp_ns / 1e9 < 80


def test_lead_off_ends_a_call_and_replayed_chunks_change_nothing() -> None:
    bed, calls = BedMonitor(), []
    for s in range(12):
        calls += bed.add("MDC_ECG_ELEC_POTL_II", 250.0, s * 10**9, np.zeros(250))
    assert [(c.name, c.on) for c in calls][:1] == [("asystole", True)]
    assert bed.add("MDC_ECG_ELEC_POTL_II", 250.0, 11 * 10**9, np.zeros(250)) == []  # replay
    ended = bed.add("MDC_ECG_ELEC_POTL_II", 250.0, 12 * 10**9, np.zeros(250), lead_off=True)
    assert [(c.name, c.on) for c in ended] == [("asystole", False)]
