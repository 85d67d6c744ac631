"""AF features: RR irregularity on synthetic rhythms, defined results on unusable windows."""

from __future__ import annotations

import math

import numpy as np

from wardwatch.models.detectors.af_features import (
    FEATURE_NAMES,
    MIN_USABLE_S,
    RR_FEATURE_NAMES,
    rr_features,
    usable_segment,
    window_features,
)

FS = 300.0


def synthetic_ecg(rr_s: np.ndarray, fs_hz: float = FS, p_wave: bool = True) -> np.ndarray:
    """Gaussian QRS (1 mV) at cumulative RR times, optionally a 0.15 mV P wave 160 ms before each."""
    beats = 0.5 + np.concatenate([[0.0], np.cumsum(rr_s)])
    n = int((beats[-1] + 0.5) * fs_hz)
    t = np.arange(n) / fs_hz
    x = np.zeros(n)
    for b in beats:
        x += np.exp(-((t - b) ** 2) / (2 * 0.012**2))
        if p_wave:
            x += 0.15 * np.exp(-((t - b + 0.16) ** 2) / (2 * 0.025**2))
    return x


def sinus_rr(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.8 + 0.02 * np.sin(np.arange(n) / 4.0) + rng.normal(0, 0.005, n)


def af_rr(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.4, 1.1, n)


def test_irregular_rr_scores_high_on_every_irregularity_feature() -> None:
    reg, irr = rr_features(sinus_rr(40)), rr_features(af_rr(40))
    for name in ("rr_cv", "rmssd_rel", "sd1_rel", "psd50", "psd_rel10", "mad_drr_rel", "rr_outlier_frac"):
        assert irr[name] > reg[name] + 0.1, name
    assert irr["tpr"] > 0.55 > reg["tpr"]  # a random series turns ~2/3 of the time, a smooth one rarely
    assert reg["rr_density"] > 0.7
    assert irr["rr_density"] < 0.3
    assert math.isclose(reg["hr_bpm"], 75.0, rel_tol=0.03)


def test_bigeminy_is_irregular_but_clustered_unlike_af() -> None:
    bigeminy = np.tile([0.55, 1.05], 20)
    big, af = rr_features(bigeminy), rr_features(af_rr(40, seed=3))
    assert big["rmssd_rel"] > 0.3  # as irregular as AF by RMSSD ...
    assert big["rr_density"] > 0.45 > af["rr_density"]  # ... but on two levels
    assert big["drr_density"] > 0.45 > af["drr_density"]


def test_too_few_intervals_give_nan_not_an_error() -> None:
    assert all(math.isnan(v) for v in rr_features([]).values())
    two = rr_features([0.8, 0.9])
    assert math.isclose(two["hr_bpm"], 60 / 0.85)
    assert math.isnan(two["rmssd_rel"])
    assert set(two) == set(RR_FEATURE_NAMES)


def test_window_features_sees_the_rhythm_and_the_p_waves() -> None:
    sinus = window_features(synthetic_ecg(sinus_rr(36)), FS)
    af_ecg = synthetic_ecg(af_rr(40, seed=1), p_wave=False)
    af_ecg += 0.03 * np.sin(2 * np.pi * 6.5 * np.arange(af_ecg.size) / FS)  # f waves, no P waves
    af = window_features(af_ecg, FS)
    assert sinus is not None and af is not None
    assert sinus.shape == af.shape == (len(FEATURE_NAMES),)
    f = dict(zip(FEATURE_NAMES, sinus))
    g = dict(zip(FEATURE_NAMES, af))
    assert g["rmssd_rel"] > 5 * f["rmssd_rel"]
    assert f["p_corr"] > 0.9 > 0.6 > g["p_corr"]  # a consistent P wave before each R in sinus rhythm
    assert f["bsqi"] > 0.9 and f["tsqi"] > 0.9
    assert math.isclose(f["qrs_amp_mv"], 1.0, rel_tol=0.2)


def test_unusable_windows_give_none() -> None:
    n = int(30 * FS)
    assert window_features(np.full(n, np.nan), FS) is None
    assert window_features(np.zeros(n), FS) is None  # flat
    short = np.full(n, np.nan)
    short[: int((MIN_USABLE_S - 1) * FS)] = synthetic_ecg(sinus_rr(8))[: int((MIN_USABLE_S - 1) * FS)]
    assert window_features(short, FS) is None


def test_nan_padding_is_ignored() -> None:
    x = synthetic_ecg(sinus_rr(20))
    padded = np.concatenate([np.full(500, np.nan), x, np.full(700, np.nan)])
    assert np.array_equal(usable_segment(padded), x)
    assert np.allclose(window_features(padded, FS), window_features(x, FS), equal_nan=True)
    gap = x.copy()
    gap[1000:1003] = np.nan
    assert np.all(np.isfinite(usable_segment(gap)))
