"""A simulated ward: N patients with individual baselines, noise and slow drift.

Each patient has a personal baseline for every vital sign, drawn once from the seed. Every
vital follows a mean-reverting random walk (Ornstein-Uhlenbeck) around a set point that itself
drifts slowly and boundedly, so the ward looks alive over minutes and hours without leaving the
range of a stable ward patient. Values are rounded as a bedside monitor shows them.

Heart rate, SpO2 and respiratory rate come every ``interval_s``; the blood-pressure cuff and the
temperature come every ``nibp_every_s`` and ``temp_every_s``, first at the start.

The simulator is deterministic: the same seed, start time and settings give the same records.
It is pure (no Kafka); :mod:`wardwatch.streams.publish` sends what it makes.

>>> sim = WardSimulator("ward-a", patients=2, seed=7, secret=b"0123456789abcdef",
...                     start_ns=1_790_000_000_000_000_000)
>>> first = sim.step()
>>> sorted({r.signal for r in first})[:2]
['MDC_ECG_HEART_RATE', 'MDC_PRESS_BLD_NONINV_DIA']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import ChartedEvent, NumericObservation
from wardwatch.streams.signals import SIGNALS

__all__ = ["SimulatedPatient", "WardSimulator", "VITAL_DYNAMICS", "ou_step"]

# signal: (population mean, population sd of a patient's baseline, clip low, clip high,
#          within-patient noise sd, OU time constant s, set-point drift sd per hour, decimals)
_VITALS: dict[str, tuple[float, float, float, float, float, float, float, int]] = {
    "MDC_ECG_HEART_RATE": (78.0, 9.0, 55.0, 105.0, 2.5, 30.0, 3.0, 0),
    "MDC_PULS_OXIM_SAT_O2": (96.5, 1.2, 93.0, 99.5, 0.6, 20.0, 0.4, 0),
    "MDC_RESP_RATE": (16.0, 2.0, 12.0, 21.0, 1.0, 40.0, 0.8, 0),
    "MDC_PRESS_BLD_NONINV_SYS": (124.0, 12.0, 100.0, 155.0, 4.0, 600.0, 4.0, 0),
    "MDC_PRESS_BLD_NONINV_DIA": (76.0, 7.0, 60.0, 92.0, 3.0, 600.0, 2.5, 0),
    "MDC_TEMP_BODY": (36.9, 0.3, 36.2, 37.6, 0.05, 1800.0, 0.1, 1),
}
_FAST = ("MDC_ECG_HEART_RATE", "MDC_PULS_OXIM_SAT_O2", "MDC_RESP_RATE")
_NIBP = ("MDC_PRESS_BLD_NONINV_SYS", "MDC_PRESS_BLD_NONINV_DIA")
_TEMP = ("MDC_TEMP_BODY",)
# The set point may drift at most this many baseline-sds away from the baseline.
_DRIFT_BOUND_SD = 1.5

#: The table above, shared with the scenario simulator (:mod:`wardwatch.streams.scenarios`):
#: signal → (population mean, baseline sd, clip low, clip high, noise sd, OU tau s, drift sd/h, decimals).
VITAL_DYNAMICS = _VITALS


def ou_step(state: np.ndarray, setpoint: np.ndarray, noise_sd: np.ndarray, tau_s: np.ndarray, dt_s: float,
            z: np.ndarray) -> np.ndarray:
    """One Ornstein-Uhlenbeck step of ``dt_s`` towards ``setpoint``; ``z`` holds standard normal draws.

    The stationary standard deviation around the set point is ``noise_sd``.
    """
    decay = np.exp(-dt_s / tau_s)
    return setpoint + (state - setpoint) * decay + z * noise_sd * np.sqrt(1.0 - decay**2)


@dataclass(frozen=True)
class SimulatedPatient:
    """A simulated bed: its pseudonymous reference, bed label and monitor id."""

    patient_ref: str
    bed: str
    device_id: str


class WardSimulator:
    """Numeric vital signs of ``patients`` simulated patients, one :meth:`step` at a time."""

    def __init__(
        self,
        ward: str,
        patients: int,
        seed: int,
        secret: bytes,
        start_ns: int,
        interval_s: float = 1.0,
        nibp_every_s: float = 60.0,
        temp_every_s: float = 60.0,
    ) -> None:
        if patients < 1:
            raise ValueError("patients must be at least 1")
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.ward = ward
        self.interval_s = interval_s
        self._start_ns = start_ns
        self._step = 0
        self._every = {
            **{s: interval_s for s in _FAST},
            **{s: max(nibp_every_s, interval_s) for s in _NIBP},
            **{s: max(temp_every_s, interval_s) for s in _TEMP},
        }
        self._next_due = {s: 0.0 for s in _VITALS}
        self._signals = tuple(_VITALS)
        params = np.array([_VITALS[s] for s in self._signals])  # (signals, 8)
        self._mean, self._sd, self._lo, self._hi = params[:, 0], params[:, 1], params[:, 2], params[:, 3]
        self._noise, self._tau, self._drift_h = params[:, 4], params[:, 5], params[:, 6]
        self._decimals = params[:, 7].astype(int)
        # One generator for the whole ward, seeded once: the stream of draws is the same every run.
        self._rng = np.random.default_rng(seed)
        n = patients
        self.patients = [
            SimulatedPatient(
                patient_ref=pseudonymize(f"SIM-{ward}-{i + 1:04d}", secret),
                bed=f"{i + 1:02d}",
                device_id=f"sim-monitor-{i + 1:04d}",
            )
            for i in range(n)
        ]
        baseline = self._rng.normal(self._mean, self._sd, size=(n, len(self._signals)))
        baseline = np.clip(baseline, self._lo, self._hi)
        # Keep diastolic at least 25 mmHg under systolic.
        sys_i, dia_i = self._signals.index(_NIBP[0]), self._signals.index(_NIBP[1])
        baseline[:, dia_i] = np.minimum(baseline[:, dia_i], baseline[:, sys_i] - 25.0)
        self._baseline = baseline
        self._setpoint = baseline.copy()
        self._state = baseline.copy()

    def admission_events(self) -> list[ChartedEvent]:
        """What a nurse charts on admission, at the start time: breathing air, alert (ACVPU A)."""
        return [
            ChartedEvent(patient_ref=p.patient_ref, ward=self.ward, bed=p.bed, source="sim-nurse",
                         timestamp_ns=self._start_ns, event=event, value=value)
            for p in self.patients
            for event, value in (("supplemental_oxygen", "off"), ("consciousness", "A"))
        ]

    @property
    def now_ns(self) -> int:
        """Simulated time of the next :meth:`step`."""
        return self._start_ns + round(self._step * self.interval_s * 1e9)

    def _advance(self) -> None:
        dt = self.interval_s
        shape = self._state.shape
        drift = self._rng.normal(0.0, 1.0, size=shape) * self._drift_h * np.sqrt(dt / 3600.0)
        bound = _DRIFT_BOUND_SD * self._sd
        setpoint = np.clip(self._setpoint + drift, self._baseline - bound, self._baseline + bound)
        self._setpoint = np.clip(setpoint, self._lo, self._hi)  # a stable ward: set points stay in range
        z = self._rng.normal(0.0, 1.0, size=shape)
        self._state = ou_step(self._state, self._setpoint, self._noise, self._tau, dt, z)

    def step(self) -> list[NumericObservation]:
        """Return the observations due at :attr:`now_ns`, then advance by ``interval_s``."""
        t_s = self._step * self.interval_s
        timestamp = self.now_ns
        due = [i for i, s in enumerate(self._signals) if self._next_due[s] <= t_s + 1e-9]
        for i in due:
            self._next_due[self._signals[i]] = t_s + self._every[self._signals[i]]
        out: list[NumericObservation] = []
        if due:
            values = self._displayed()
            for p, patient in enumerate(self.patients):
                for i in due:
                    code = self._signals[i]
                    out.append(
                        NumericObservation(
                            patient_ref=patient.patient_ref,
                            ward=self.ward,
                            bed=patient.bed,
                            device_id=patient.device_id,
                            signal=code,
                            unit=SIGNALS[code].unit,
                            timestamp_ns=timestamp,
                            value=float(values[p, i]),
                        )
                    )
        self._advance()
        self._step += 1
        return out

    def _displayed(self) -> np.ndarray:
        shown = np.clip(self._state, self._lo - 10 * self._sd, self._hi + 10 * self._sd)
        spo2 = self._signals.index("MDC_PULS_OXIM_SAT_O2")
        shown[:, spo2] = np.minimum(shown[:, spo2], 100.0)
        out = np.empty_like(shown)
        for i, d in enumerate(self._decimals):
            out[:, i] = np.round(shown[:, i], d)
        return out
