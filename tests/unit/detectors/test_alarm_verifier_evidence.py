"""Evidence for alarm verification on real PhysioNet 2015 records (``../shared/data/challenge2015``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wardwatch.models.detectors.alarm_evidence import ALARM_TYPES, FEATURE_NAMES, alarm_features, channel_evidence
from wardwatch.models.detectors.alarm_records import read_alarm_type, read_verdicts, read_window
from wardwatch.models.detectors.alarm_verifier import AlarmVerifier

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "challenge2015"


def _window(name: str) -> np.ndarray:
    if not (DATA / f"{name}.hea").is_file():
        pytest.fail(f"recording missing: {(DATA / name).resolve()} (../shared/data/challenge2015 must be present)")
    return read_window(DATA / name, AlarmVerifier.WINDOW_S)


def _verdict(name: str) -> int:
    return read_verdicts(DATA)[name][1]


def test_true_asystole_has_a_long_beat_free_gap_on_every_channel() -> None:
    assert _verdict("a161l") == 1
    ev = channel_evidence(_window("a161l"))
    assert ev["ecg1"]["gap_s"] > 4.0 and ev["ecg2"]["gap_s"] > 4.0
    assert ev["pleth"]["gap_s"] > 3.0  # the pulse stops too
    assert ev["pleth"]["amp_ratio"] < -1.0  # pulsatility falls


def test_false_asystole_has_regular_beats() -> None:
    assert _verdict("a705l") == 0
    ev = channel_evidence(_window("a705l"))
    assert ev["ecg1"]["gap_s"] < 1.5 and ev["ecg1"]["n"] >= 12
    assert ev["pleth"]["n"] >= 8


def test_bradycardia_rates_true_and_false() -> None:
    true = channel_evidence(_window("b515l"))  # true: all four channels agree below 40 /min
    for ch in ("ecg1", "ecg2", "pleth", "abp"):
        assert 30 < true[ch]["hr_min5"] < 40, ch
    false = channel_evidence(_window("b349l"))  # false: about 90 /min on every channel
    for ch in ("ecg1", "ecg2", "abp"):
        assert false[ch]["hr_min5"] > 80, ch
    assert false["pleth"]["ok"] == 0.0  # this record has no PLETH


def test_tachycardia_rate_over_17_beats() -> None:
    ev = channel_evidence(_window("t107l"))  # true extreme tachycardia
    assert ev["ecg1"]["hr_max17"] > 140 and ev["ecg2"]["hr_max17"] > 140
    assert ev["ecg1"]["sqi"] > 0.9


def test_features_are_finite_in_order_and_agreement_follows_the_type() -> None:
    ev = channel_evidence(_window("b515l"))
    x = alarm_features(ev, "Bradycardia")
    assert x.shape == (len(FEATURE_NAMES),) and np.all(np.isfinite(x))
    names = list(FEATURE_NAMES)
    assert x[names.index("type_Bradycardia")] == 1.0 and x[names.index("type_Asystole")] == 0.0
    assert x[names.index("margin_frac_confirm")] == 1.0  # all channels confirm < 40 /min
    y = alarm_features(ev, "Tachycardia")
    assert y[names.index("margin_frac_confirm")] == 0.0  # none confirms > 140 /min
    with pytest.raises(ValueError, match="unknown alarm type"):
        alarm_features(ev, "Afib")


def test_missing_and_short_channels() -> None:
    w = _window("a161l").copy()
    w[1] = np.nan
    ev = channel_evidence(w)
    assert ev["ecg2"]["ok"] == 0.0 and np.isnan(ev["ecg2"]["gap_s"])
    assert np.all(np.isfinite(alarm_features(ev, "Asystole")))
    with pytest.raises(ValueError, match="shape"):
        channel_evidence(w[:, :1000])


def test_header_type_is_read_without_the_verdict(tmp_path: Path) -> None:
    text = (DATA / "v131l.hea").read_text()
    assert "#True alarm" in text
    stripped = tmp_path / "v131l.hea"
    stripped.write_text("\n".join(ln for ln in text.splitlines() if "alarm" not in ln.lower()) + "\n")
    assert read_alarm_type(stripped) == "Ventricular_Tachycardia" and "Ventricular_Tachycardia" in ALARM_TYPES
