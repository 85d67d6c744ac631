"""Physiological evidence for verifying an arrhythmia alarm, from a multichannel window.

The window holds four channels at 250 Hz ending at the alarm (``ecg1``, ``ecg2``, ``pleth``,
``abp``; an absent channel is all-NaN). For each channel the evidence is computed with the
project's own signal processing (:mod:`wardwatch.models.signal`):

- beats: R peaks on the ECG leads (:func:`detect_qrs`), pulses on PLETH and ABP
  (:func:`detect_pulses`); signal quality (:func:`ecg_sqi`, :func:`ppg_sqi`);
- the 2015 challenge's definitions checked on the beats of the last :data:`REGION_S` seconds
  (where the alarm's onset lies): the longest beat-free gap (asystole: no QRS for 4 s), the
  lowest rate over 5 consecutive beats (extreme bradycardia: < 40 /min), the highest rate over
  17 consecutive beats (extreme tachycardia: > 140 /min), the highest rate over 5 beats and the
  longest fast run of wide beats (ventricular tachycardia: 5 ventricular beats > 100 /min);
- ECG spectra over 4-s stretches (ventricular flutter/fibrillation: a fibrillatory waveform for
  4 s puts most power at 2–8 Hz and little above 12 Hz) and QRS width;
- on PLETH and ABP the pulsatility of the last seconds against the window's start (a true
  asystole or VF stops the pulse), and on ABP the mean pressure.
- beat-free numbers (:mod:`~wardwatch.models.detectors.alarm_spectral`) that do not depend on
  the beat detectors: ECG pauses and 1.5–8 Hz power share, PLETH/ABP pulsatility and regularity.

:func:`channel_evidence` gives these numbers (NaN where they cannot be computed);
:func:`alarm_features` turns them, with the alarm type, into the fixed-length, NaN-free
vector the verifier's network reads, adding the agreement between channels (each channel's
margin against the alarm type's criterion, the best-quality channel's verdict).

>>> import numpy as np
>>> win = np.full((4, 16 * 250), np.nan)
>>> t = np.arange(16 * 250) / 250.0
>>> win[0] = sum(np.exp(-((t - b) ** 2) / (2 * 0.012**2)) for b in np.arange(0.4, 16, 0.75))
>>> ev = channel_evidence(win)
>>> round(ev["ecg1"]["hr_med"])
80
>>> alarm_features(ev, "Asystole").shape == (len(FEATURE_NAMES),)
True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray
from scipy.signal import butter, sosfiltfilt, welch

from wardwatch.models.detectors.alarm_spectral import ecg_flat_s, ecg_lf_share, pulse_min_ratio, pulse_regularity
from wardwatch.models.signal import detect_pulses, detect_qrs, ecg_sqi, ppg_sqi

__all__ = ["ALARM_TYPES", "CHANNELS", "FS_HZ", "REGION_S", "FEATURE_NAMES", "channel_evidence", "alarm_features"]

logger = logging.getLogger(__name__)

FS_HZ = 250.0
CHANNELS = ("ecg1", "ecg2", "pleth", "abp")
#: The 2015 header spellings, in the order of the one-hot features.
ALARM_TYPES = ("Asystole", "Bradycardia", "Tachycardia", "Ventricular_Tachycardia", "Ventricular_Flutter_Fib")
#: The alarm's onset lies in the last 10 s before it fires (2015 rules); 2 s of slack.
REGION_S = 12.0

_ECG_KEYS = ("ok", "sqi", "n", "gap_s", "hr_min5", "hr_max17", "hr_max5", "hr_med", "fast_run", "wide_fast_run",
             "width_ms", "width_ratio", "vf_lf", "vf_hf", "vf_conc", "amp_ratio", "morph_min5", "odd_fast_run")
_PULSE_KEYS = ("ok", "sqi", "n", "gap_s", "hr_min5", "hr_max17", "hr_max5", "hr_med", "amp_ratio", "amp_last")
#: Each alarm type's criterion as (evidence key, threshold, sign, scale): margin = sign*(value-threshold)/scale > 0
#: means the channel confirms the alarm.
_CRITERIA: dict[str, tuple[str, float, float, float]] = {
    "Asystole": ("gap_s", 4.0, 1.0, 2.0),
    "Bradycardia": ("hr_min5", 40.0, -1.0, 5.0),
    "Tachycardia": ("hr_max17", 140.0, 1.0, 10.0),
    "Ventricular_Tachycardia": ("hr_max5", 100.0, 1.0, 20.0),
    "Ventricular_Flutter_Fib": ("gap_s", 2.0, 1.0, 2.0),
}
_MARGIN_SLOTS = ("best_ecg", "other_ecg", "pleth", "abp", "max", "min", "mean_ok", "frac_confirm")
FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"type_{t}" for t in ALARM_TYPES)
    + tuple(f"ecg_best_{k}" for k in _ECG_KEYS) + tuple(f"ecg_other_{k}" for k in _ECG_KEYS)
    + tuple(f"pleth_{k}" for k in _PULSE_KEYS) + tuple(f"abp_{k}" for k in _PULSE_KEYS) + ("abp_mean_mmhg",)
    + tuple(f"margin_{k}" for k in _MARGIN_SLOTS)
    # beat-free evidence (alarm_spectral): both leads' ECG pause and 1.5-8 Hz share, PLETH/ABP pulsatility
    + ("ecg_flat_s_min", "ecg_flat_s_max", "ecg_lf_share_max", "ecg_lf_share_min", "pulse_min_ratio", "pulse_regularity")
)


def _bandpass(x: NDArray[np.float64], lo: float, hi: float) -> NDArray[np.float64]:
    sos = butter(2, [lo, hi], btype="bandpass", fs=FS_HZ, output="sos")
    return np.asarray(sosfiltfilt(sos, x, padlen=min(60, x.size - 1)))


def _filled(x: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """The channel with short NaN runs interpolated; None when mostly missing or flat."""
    ok = np.isfinite(x)
    if ok.mean() < 0.6:
        return None
    y = x if ok.all() else np.interp(np.arange(x.size), np.flatnonzero(ok), x[ok])
    return None if np.ptp(y) <= 1e-9 else y


def _rates(beats: NDArray[np.int64], n: int, start: int) -> dict[str, float]:
    """Gap and run rates of beats (sample indices) in the region ``[start, n)`` of an ``n``-sample window."""
    inside = beats[beats >= start]
    edges = np.concatenate([[start], inside, [n]])
    out = {"n": float(inside.size), "gap_s": float(np.max(np.diff(edges))) / FS_HZ}
    rr = np.diff(beats) / FS_HZ
    ends = beats[1:]  # rr[k] ends at beat k+1

    def run_rate(k: int, pick: str) -> float:
        if rr.size < k:
            return float("nan")
        means = np.convolve(rr, np.ones(k) / k, mode="valid")
        last = ends[k - 1:]
        means = means[last >= start]
        if means.size == 0:
            return float("nan")
        return 60.0 / (means.max() if pick == "min" else means.min())

    out["hr_min5"] = run_rate(4, "min")
    out["hr_max17"] = run_rate(16, "max")
    out["hr_max5"] = run_rate(4, "max")
    out["hr_med"] = 60.0 / float(np.median(rr)) if rr.size else float("nan")
    fast = rr < 0.6
    out["fast_run"] = float(_longest_run(fast[ends >= start]) + 1) if rr.size else 0.0
    return out


def _longest_run(flags: NDArray[np.bool_]) -> int:
    best = cur = 0
    for f in flags:
        cur = cur + 1 if f else 0
        best = max(best, cur)
    return best


def _widths_ms(y: NDArray[np.float64], beats: NDArray[np.int64]) -> NDArray[np.float64]:
    """QRS width per beat: time the 1–40 Hz lead's slope stays above 30 % of its peak near R."""
    half = int(0.15 * FS_HZ)
    d = np.abs(np.diff(y, prepend=y[0]))
    out = []
    for b in beats:
        if b < half or b + half >= y.size:
            out.append(np.nan)
            continue
        seg = d[b - half:b + half]
        out.append(1000.0 * np.count_nonzero(seg > 0.3 * seg.max()) / FS_HZ if seg.max() > 0 else np.nan)
    return np.asarray(out, dtype=np.float64)


def _morphology(y: NDArray[np.float64], beats: NDArray[np.int64], start: int) -> tuple[float, float]:
    """Beats unlike the window's early beats: lowest 5-beat mean correlation with their template
    in the alarm region, and the longest fast run (< 600 ms RR) of beats correlating < 0.7."""
    half = int(0.15 * FS_HZ)
    keep = beats[(beats >= half) & (beats + half < y.size)]
    if keep.size < 3:
        return float("nan"), 0.0
    shapes = np.stack([y[b - half:b + half] for b in keep])
    early = shapes[keep < start]
    template = np.median(early if early.shape[0] >= 3 else shapes, axis=0)
    a = shapes - shapes.mean(axis=1, keepdims=True)
    t = template - template.mean()
    den = np.sqrt(np.sum(a * a, axis=1) * np.sum(t * t))
    corr = np.divide(a @ t, den, out=np.zeros(keep.size), where=den > 0)
    late = keep >= start
    m5 = np.convolve(corr, np.ones(5) / 5, mode="valid")[late[4:]] if keep.size >= 5 else corr[late]
    odd = (corr[1:] < 0.7) & (np.diff(keep) < 0.6 * FS_HZ)
    run = _longest_run(odd[late[1:]]) if keep.size > 1 else 0
    return (float(m5.min()) if m5.size else float("nan")), float(run)


def _spectral(y: NDArray[np.float64], start: int) -> tuple[float, float, float]:
    """Over 4-s stretches from ``start``: max 2–8 Hz power share, min 12–40 Hz share, max peak share."""
    n4, step = int(4 * FS_HZ), int(FS_HZ)
    lf, hf, conc = [], [], []
    for a in range(start, y.size - n4 + 1, step):
        f, p = welch(y[a:a + n4], fs=FS_HZ, nperseg=512, noverlap=384)
        band = (f >= 0.5) & (f <= 40)
        tot = p[band].sum()
        if tot <= 0:
            continue
        lf.append(p[(f >= 2) & (f <= 8)].sum() / tot)
        hf.append(p[(f >= 12) & (f <= 40)].sum() / tot)
        k = int(np.argmax(np.where(band, p, 0)))
        conc.append(p[max(k - 2, 0):k + 3].sum() / tot)
    if not lf:
        return float("nan"), float("nan"), float("nan")
    return float(max(lf)), float(min(hf)), float(max(conc))


def _amp_ratio(y: NDArray[np.float64]) -> tuple[float, float]:
    """log2 of the band's spread in the last 5 s over its first 5 s, and the last 5 s's spread."""
    m = int(5 * FS_HZ)
    first, last = float(np.std(y[:m])), float(np.std(y[-m:]))
    if first <= 0:
        return float("nan"), last
    return float(np.log2(max(last, 1e-6 * first) / first)), last


def _ecg(x: NDArray[np.float64], start: int) -> dict[str, float]:
    y = _filled(x)
    if y is None:
        return {k: float("nan") for k in _ECG_KEYS} | {"ok": 0.0}
    beats = detect_qrs(y, FS_HZ)
    ev = {"ok": 1.0, "sqi": ecg_sqi(y, FS_HZ, beats)} | _rates(beats, y.size, start)
    band = _bandpass(y, 1.0, 40.0)
    w = _widths_ms(band, beats)
    late, early = w[beats >= start], w[beats < start]
    ev["width_ms"] = float(np.nanmedian(late)) if np.isfinite(late).any() else float("nan")
    ev["width_ratio"] = ev["width_ms"] / float(np.nanmedian(early)) if np.isfinite(early).any() else float("nan")
    ref = 110.0 if not np.isfinite(early).any() else max(110.0, 1.25 * float(np.nanmedian(early)))
    rr_fast = np.diff(beats) < 0.6 * FS_HZ
    wide = (w[1:] >= ref) & rr_fast
    ev["wide_fast_run"] = float(_longest_run(wide[beats[1:] >= start])) if beats.size > 1 else 0.0
    ev["vf_lf"], ev["vf_hf"], ev["vf_conc"] = _spectral(_bandpass(y, 0.5, 40.0), start)
    ev["amp_ratio"] = _amp_ratio(band)[0]
    ev["morph_min5"], ev["odd_fast_run"] = _morphology(band, beats, start)
    ev["flat_s"], ev["lf_share"] = ecg_flat_s(y, start), ecg_lf_share(y, start)
    return ev


def _pulse(x: NDArray[np.float64], start: int) -> dict[str, float]:
    y = _filled(x)
    if y is None:
        return {k: float("nan") for k in _PULSE_KEYS} | {"ok": 0.0, "mean": float("nan")}
    pulses = detect_pulses(y, FS_HZ)
    ev = {"ok": 1.0, "sqi": ppg_sqi(y, FS_HZ, pulses)} | _rates(np.asarray(pulses.peaks, dtype=np.int64), y.size, start)
    ev["amp_ratio"], ev["amp_last"] = _amp_ratio(_bandpass(y, 0.5, 8.0))
    ev["mean"] = float(np.mean(y[-int(4 * FS_HZ):]))
    ev["min_ratio"], ev["regularity"] = pulse_min_ratio(y, start), pulse_regularity(y)
    return ev


def channel_evidence(window: NDArray[np.floating], region_s: float = REGION_S) -> dict[str, dict[str, float]]:
    """Per-channel evidence of one window.

    Parameters
    ----------
    window : ndarray, shape (4, samples)
        ``ecg1, ecg2, pleth, abp`` at 250 Hz ending at the alarm; an absent channel is all-NaN.
    region_s : float
        The last seconds in which the alarm's criteria are checked (default :data:`REGION_S`);
        the seconds before are the reference for morphology, width and pulsatility changes.

    Returns
    -------
    dict
        Channel name -> evidence name -> value (NaN where it cannot be computed; ``ok`` is 0 for
        an absent or unusable channel). Rates in /min, times in s, widths in ms.
    """
    w = np.asarray(window, dtype=np.float64)
    need = max(int(region_s * FS_HZ), int(14 * FS_HZ))
    if w.ndim != 2 or w.shape[0] != len(CHANNELS) or w.shape[1] < need:
        raise ValueError(f"a window must have shape (4, >= {need}); got {w.shape}")
    start = w.shape[1] - int(region_s * FS_HZ)
    return {"ecg1": _ecg(w[0], start), "ecg2": _ecg(w[1], start), "pleth": _pulse(w[2], start), "abp": _pulse(w[3], start)}


_DEFAULTS = {"sqi": 0.0, "n": 0.0, "gap_s": 0.0, "hr_min5": 0.0, "hr_max17": 0.0, "hr_max5": 0.0, "hr_med": 0.0,
             "fast_run": 0.0, "wide_fast_run": 0.0, "width_ms": 0.0, "width_ratio": 1.0, "vf_lf": 0.0, "vf_hf": 0.0,
             "vf_conc": 0.0, "amp_ratio": 0.0, "amp_last": 0.0, "morph_min5": 1.0, "odd_fast_run": 0.0}
_CLIP = {"gap_s": 12.0, "hr_min5": 300.0, "hr_max17": 300.0, "hr_max5": 300.0, "hr_med": 300.0, "width_ratio": 4.0,
         "amp_ratio": 6.0, "fast_run": 40.0, "odd_fast_run": 40.0, "wide_fast_run": 40.0, "n": 60.0, "width_ms": 300.0}


def _value(ev: Mapping[str, float], key: str) -> float:
    v = ev.get(key, float("nan"))
    if not np.isfinite(v):
        # no beats at all: a gap as long as the region, no rate
        return REGION_S if key == "gap_s" and ev.get("ok", 0.0) else _DEFAULTS.get(key, 0.0)
    c = _CLIP.get(key)
    return float(np.clip(v, -c, c)) if c else float(v)


def _margin(ev: Mapping[str, float], alarm_type: str, kind: str) -> float:
    key, thr, sign, scale = _CRITERIA[alarm_type]
    if alarm_type == "Ventricular_Flutter_Fib" and kind == "ecg":
        v = ev.get("vf_lf", float("nan")) - ev.get("vf_hf", float("nan"))
        return float(np.clip((v - 0.6) / 0.2, -5, 5)) if np.isfinite(v) else float("nan")
    v = ev.get(key, float("nan"))
    if not np.isfinite(v):
        if not ev.get("ok", 0.0):
            return float("nan")
        # a usable channel with too few beats: confirms asystole/brady/VF, refutes tachy/VT
        return 1.0 if alarm_type in ("Asystole", "Bradycardia", "Ventricular_Flutter_Fib") else -1.0
    return float(np.clip(sign * (v - thr) / scale, -5, 5))


def alarm_features(evidence: Mapping[str, Mapping[str, float]], alarm_type: str) -> NDArray[np.float64]:
    """The verifier network's input: a NaN-free vector in the order of :data:`FEATURE_NAMES`.

    The ECG lead with the better quality comes first (``ecg_best_*``); the agreement block
    (``margin_*``) is each channel's margin against ``alarm_type``'s criterion (> 0 confirms)
    and their summary: max, min, quality-weighted mean and the fraction of usable channels that
    confirm the alarm.
    """
    if alarm_type not in ALARM_TYPES:
        raise ValueError(f"unknown alarm type {alarm_type!r}; expected one of {', '.join(ALARM_TYPES)}")
    e1, e2 = evidence["ecg1"], evidence["ecg2"]
    q1 = e1.get("sqi", np.nan) if e1.get("ok") else -1.0
    q2 = e2.get("sqi", np.nan) if e2.get("ok") else -1.0
    best, other = (e2, e1) if np.nan_to_num(q2, nan=-0.5) > np.nan_to_num(q1, nan=-0.5) else (e1, e2)
    pl, ab = evidence["pleth"], evidence["abp"]
    feats = [1.0 if t == alarm_type else 0.0 for t in ALARM_TYPES]
    for ev, keys in ((best, _ECG_KEYS), (other, _ECG_KEYS), (pl, _PULSE_KEYS), (ab, _PULSE_KEYS)):
        feats += [_value(ev, k) for k in keys]
    mean = ab.get("mean", float("nan"))
    feats.append(float(np.clip(mean, -50, 250)) / 100.0 if np.isfinite(mean) else 0.0)
    margins = [_margin(best, alarm_type, "ecg"), _margin(other, alarm_type, "ecg"),
               _margin(pl, alarm_type, "pulse"), _margin(ab, alarm_type, "pulse")]
    quals = [np.nan_to_num(best.get("sqi", 0.0)), np.nan_to_num(other.get("sqi", 0.0)),
             np.nan_to_num(pl.get("sqi", 0.0)), np.nan_to_num(ab.get("sqi", 0.0))]
    m = np.array(margins, dtype=np.float64)
    ok = np.isfinite(m)
    feats += [0.0 if not np.isfinite(v) else v for v in margins]
    if ok.any():
        wts = np.array(quals)[ok] + 0.05
        feats += [float(m[ok].max()), float(m[ok].min()), float(np.sum(m[ok] * wts) / wts.sum()), float(np.mean(m[ok] > 0))]
    else:
        feats += [0.0, 0.0, 0.0, 0.0]
    feats += _beat_free(best, other, pl, ab)
    return np.asarray(feats, dtype=np.float64)


def _beat_free(e1: Mapping[str, float], e2: Mapping[str, float], pl: Mapping[str, float],
               ab: Mapping[str, float]) -> list[float]:
    """The beat-free block: ECG pause (min, max over usable leads), 1.5-8 Hz share (max, min),
    the pulse channels' lowest pulsatility ratio and highest regularity; 0 where nothing is usable."""
    def vals(evs: tuple[Mapping[str, float], ...], key: str) -> NDArray[np.float64]:
        v = np.array([ev.get(key, np.nan) for ev in evs if ev.get("ok")], dtype=np.float64)
        return v[np.isfinite(v)]

    flat, lf = vals((e1, e2), "flat_s"), vals((e1, e2), "lf_share")
    ratio, reg = vals((pl, ab), "min_ratio"), vals((pl, ab), "regularity")
    pick = [(flat, np.min), (flat, np.max), (lf, np.max), (lf, np.min), (ratio, np.min), (reg, np.max)]
    return [float(f(v)) if v.size else 0.0 for v, f in pick]
