"""Waveform synthesis: ECG lead II, PPG and respiration from one beat schedule, seamless across chunks.

The model is beat-synchronous: a schedule of beats (time, preceding RR interval, kind) is drawn
ahead of the signal, and every waveform is a function of absolute time evaluated at its sample
times. A chunk border therefore cuts nothing: sample ``k`` has the same value whichever chunk it
falls in, and the heart rate a detector finds in the ECG is the rate the schedule was drawn at.

* **ECG** (mV): each beat is a sum of Gaussians (P, Q, R, S, T), the dynamical-model morphology of
  ECGSYN (McSharry et al., IEEE TBME 2003) written in the time domain; T moves with RR (Bazett).
  Atrial fibrillation: RR intervals drawn independently (coefficient of variation ~0.18), no P
  wave, fibrillatory f-waves (0.03-0.05 mV at 5-7 Hz) on the baseline. Ventricular tachycardia:
  wide (~0.1 s) QRS with a discordant T, regular. Asystole: no beats. Plus respiratory baseline
  wander and white noise.
* **PPG** (arbitrary units): a systolic and a dicrotic Gaussian per perfused beat, 0.2-0.3 s after
  the R peak; the amplitude falls in VT and varies with the preceding RR in AF.
* **Respiration** (arbitrary units): a phase integrated from the respiratory rate.
* **Accelerometer** (m/s2): gravity on z, small tremor; motion adds 1-3 Hz movements.

neurokit2's ``ecg_simulate``/``ppg_simulate``/``rsp_simulate`` draw a whole segment at one rate:
they give no beat-level control (AF, VT runs, pauses), no continuity between segments, and
``rsp_simulate`` fails at 62.5 Hz, so they are not used here; the tests use neurokit2's
``ecg_peaks`` to check the rate of what this module draws.

>>> import numpy as np
>>> synth = BedSynth(np.random.default_rng(1))
>>> synth.schedule(10.0, lambda t: ("sinus", 60.0, 0.0))
>>> t = sample_times(0, ECG_FS_HZ)
>>> round(float(synth.hr_bpm(10.0)))
60
>>> synth.ecg_mv(t, resp_phase=np.zeros_like(t)).shape
(250,)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BedSynth", "Beat", "sample_times", "sample_range", "ECG_FS_HZ", "PPG_FS_HZ", "RESP_FS_HZ", "ACCEL_FS_HZ"]

ECG_FS_HZ = 250.0
PPG_FS_HZ = 125.0
RESP_FS_HZ = 62.5
ACCEL_FS_HZ = 25.0
GRAVITY_MS2 = 9.80665

# (offset from R peak s, amplitude relative to R, width s); the T offset scales with sqrt(RR).
_SINUS = np.array([(-0.17, 0.12, 0.022), (-0.035, -0.10, 0.010), (0.0, 1.0, 0.011), (0.032, -0.22, 0.011), (0.27, 0.28, 0.05)])
_AF = _SINUS[1:]
_VENTRICULAR = np.array([(0.0, 1.5, 0.035), (0.085, -0.8, 0.04), (0.30, -0.35, 0.07)])
_MORPHOLOGY = {"N": _SINUS, "A": _AF, "V": _VENTRICULAR}
_T_INDEX = {"N": 4, "A": 3, "V": 2}
_HR_WINDOW_S = 8.0
_ASYSTOLE_AFTER_S = 6.0


def sample_range(second: int, fs_hz: float) -> tuple[int, int]:
    """Indices of the samples in ``[second, second + 1)``: ``ceil(second * fs)`` .. ``ceil((second + 1) * fs)``."""
    return math.ceil(second * fs_hz - 1e-9), math.ceil((second + 1) * fs_hz - 1e-9)


def sample_times(second: int, fs_hz: float) -> np.ndarray:
    """Times (s after the start) of the samples in ``[second, second + 1)``; 62 or 63 at 62.5 Hz."""
    lo, hi = sample_range(second, fs_hz)
    return np.arange(lo, hi, dtype=np.float64) / fs_hz


@dataclass(frozen=True)
class Beat:
    t_s: float
    rr_s: float
    kind: str  # "N" sinus, "A" conducted AF beat, "V" ventricular
    pulse: float  # PPG amplitude this beat produces (0: not perfused)


#: What the rhythm is at a time: (rhythm, ventricular rate bpm, AF irregularity).
RhythmAt = Callable[[float], tuple[str, float, float]]


@dataclass
class BedSynth:
    """The waveform state of one bed: its beat schedule, morphology and noise generator."""

    rng: np.random.Generator
    r_amp_mv: float = 1.1
    ecg_noise_mv: float = 0.012
    ppg_noise: float = 0.01
    beats: list[Beat] = field(default_factory=list)
    next_beat_s: float = -1.0

    def __post_init__(self) -> None:
        if self.next_beat_s < 0:
            self.next_beat_s = float(self.rng.uniform(0.1, 0.8))
        self._f_phase = self.rng.uniform(0, 2 * np.pi, size=2)
        # Motion: 1-3 Hz movements, fixed per bed (an artefact is a function of absolute time).
        self._motion_f = self.rng.uniform(0.4, 3.0, size=(3, 4))
        self._motion_phase = self.rng.uniform(0, 2 * np.pi, size=(3, 4))
        self._motion_amp = self.rng.uniform(0.5, 1.0, size=(3, 4))

    # --- the beat schedule -------------------------------------------------------------------
    def schedule(self, until_s: float, rhythm_at: RhythmAt) -> None:
        """Draw beats up to ``until_s``; each from the rhythm at its own time."""
        while self.next_beat_s < until_s:
            t = self.next_beat_s
            rhythm, rate_bpm, irregularity = rhythm_at(t)
            if rhythm == "asystole" or rate_bpm <= 0:
                self.next_beat_s = t + 0.05
                continue
            mean_rr = 60.0 / rate_bpm
            prev = self.beats[-1] if self.beats else None
            if rhythm == "af":
                shape = 1.0 / max(irregularity, 0.02) ** 2  # gamma: mean 1, CV = irregularity
                rr_next = mean_rr * float(np.clip(self.rng.gamma(shape, 1.0 / shape), 0.45, 2.2))
            else:
                jitter = 0.01 if rhythm == "vt" else 0.015
                rr_next = mean_rr * (1 + jitter * float(self.rng.standard_normal()))
            rr_prev = t - prev.t_s if prev is not None else mean_rr  # after a pause, the pause
            if rhythm == "af":
                kind, pulse = "A", float(np.clip(0.35 + 0.55 * rr_prev / mean_rr, 0.3, 1.2))
            elif rhythm == "vt":
                kind, pulse = "V", 0.25
            else:
                kind, pulse = "N", 1.0
            self.beats.append(Beat(t, rr_prev, kind, pulse))
            self.next_beat_s = t + max(rr_next, 0.2)
        horizon = until_s - 3 * _HR_WINDOW_S
        if self.beats and self.beats[0].t_s < horizon:
            self.beats = [b for b in self.beats if b.t_s >= horizon]

    def hr_bpm(self, t_s: float) -> float:
        """Heart rate a monitor shows at ``t_s``: 60 / mean RR of the beats in the last 8 s; 0 when
        no beat came in the last 6 s (asystole); NaN before two beats."""
        recent = [b.t_s for b in self.beats if t_s - _HR_WINDOW_S < b.t_s <= t_s]
        last = max((b.t_s for b in self.beats if b.t_s <= t_s), default=None)
        if last is not None and t_s - last > _ASYSTOLE_AFTER_S:
            return 0.0
        if len(recent) < 2:
            return float("nan")
        return 60.0 / float(np.mean(np.diff(recent)))

    def perfused(self, t_s: float, window_s: float = 5.0) -> bool:
        """Whether any beat in the last ``window_s`` made a pulse."""
        return any(b.pulse > 0.1 for b in self.beats if t_s - window_s < b.t_s <= t_s)

    def _near(self, t: np.ndarray, before_s: float, after_s: float) -> list[Beat]:
        lo, hi = float(t[0]) - after_s, float(t[-1]) + before_s
        return [b for b in self.beats if lo <= b.t_s <= hi]

    # --- waveforms -------------------------------------------------------------------------------
    def ecg_mv(self, t: np.ndarray, resp_phase: np.ndarray, af_waves: bool = False) -> np.ndarray:
        """ECG lead II (mV) at times ``t``."""
        out = 0.06 * np.sin(resp_phase)  # respiratory baseline wander
        for beat in self._near(t, 0.25, 0.7):
            table = _MORPHOLOGY[beat.kind]
            offsets = table[:, 0].copy()
            offsets[_T_INDEX[beat.kind]] *= math.sqrt(min(max(beat.rr_s, 0.3), 2.0))
            dt = t[:, None] - beat.t_s - offsets[None, :]
            out = out + self.r_amp_mv * (table[:, 1] * np.exp(-0.5 * (dt / table[:, 2]) ** 2)).sum(axis=1)
        if af_waves:
            out = out + 0.035 * np.sin(2 * np.pi * 5.7 * t + self._f_phase[0]) + 0.02 * np.sin(2 * np.pi * 7.3 * t + self._f_phase[1])
        return out + self.rng.normal(0.0, self.ecg_noise_mv, size=t.shape)

    def ppg(self, t: np.ndarray, resp_phase: np.ndarray) -> np.ndarray:
        """Plethysmogram (arbitrary units) at times ``t``."""
        out = 0.04 * np.sin(resp_phase)
        for beat in self._near(t, 0.0, 1.0):
            if beat.pulse <= 0:
                continue
            dt = t - beat.t_s
            out = out + beat.pulse * (np.exp(-0.5 * ((dt - 0.30) / 0.075) ** 2) + 0.35 * np.exp(-0.5 * ((dt - 0.60) / 0.09) ** 2))
        return out + self.rng.normal(0.0, self.ppg_noise, size=t.shape)

    def resp(self, resp_phase: np.ndarray) -> np.ndarray:
        """Thoracic impedance respiration (arbitrary units) from its phase."""
        return 0.5 * np.sin(resp_phase) + 0.08 * np.sin(2 * resp_phase) + self.rng.normal(0.0, 0.01, size=resp_phase.shape)

    def motion(self, t: np.ndarray) -> np.ndarray:
        """Movement, shape ``(3, len(t))``, each axis about unit amplitude (a function of absolute time)."""
        arg = 2 * np.pi * self._motion_f[:, :, None] * t[None, None, :] + self._motion_phase[:, :, None]
        return (self._motion_amp[:, :, None] * np.sin(arg)).sum(axis=1) / 2.0

    def accel_ms2(self, t: np.ndarray, severity: float) -> np.ndarray:
        """Accelerometer x, y, z (m/s2), shape ``(3, len(t))``: gravity on z, tremor, movement."""
        out = self.rng.normal(0.0, 0.03, size=(3, t.size))
        out[2] += GRAVITY_MS2
        if severity > 0:
            out += 4.0 * severity * self.motion(t)
        return out
