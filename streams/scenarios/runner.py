"""Run a ward plan: numerics and waveforms for every bed, one simulated second at a time.

:class:`ScenarioRunner` is pure and deterministic (same plan, seed and start, same records). Each
bed has its own random generator (seeded by the ward's seed and the bed's position), its
:class:`~wardwatch.streams.scenarios.timeline.Timeline` and its
:class:`~wardwatch.streams.scenarios.synth.BedSynth`. Vital signs follow the mean-reverting
dynamics of :mod:`wardwatch.streams.simulator` (same table, same OU step) around the baseline
plus the scripted changes; the heart-rate *numeric* is measured from the beats the ECG is drawn
from (60 / mean RR over 8 s, as a monitor does), so it matches the ECG.

Per bed and second: ``MDC_ECG_HEART_RATE``, ``MDC_PULS_OXIM_SAT_O2``, ``MDC_RESP_RATE`` numerics;
cuff pressure every ``nibp_every_s`` and temperature every ``temp_every_s``; ECG lead II
(250 Hz), PPG (125 Hz) and thoracic impedance (62.5 Hz) chunks as int16 (gain 1000 per unit);
wearable beds also an accelerometer (25 Hz, float32) and skin temperature every minute.
Faults: ``lead_off``/``probe_off`` flatten the ECG/PPG, flag the chunk and drop HR/SpO2;
``dropout`` sends nothing; ``battery_low`` flags every record of the bed; ``motion`` moves the
accelerometer, corrupts ECG/PPG/respiration and makes SpO2 dip falsely (not flagged: detecting it
is the point).

>>> from wardwatch.streams.scenarios.model import DATA_DIR, load_ward
>>> runner = ScenarioRunner(load_ward(DATA_DIR / "demo-ward.toml"), secret=b"0123456789abcdef",
...                         start_ns=1_790_000_000_000_000_000)
>>> records = runner.step()
>>> sorted({type(r).__name__ for r in records})
['NumericObservation', 'WaveformChunk']
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import ChartedEvent, NumericObservation, QualityFlag, Record, WaveformChunk
from wardwatch.streams.scenarios.model import VITALS, BedPlan, Label, ScenarioSpec, WardPlan, labels_for, scenario_catalog
from wardwatch.streams.scenarios.synth import ACCEL_FS_HZ, ECG_FS_HZ, PPG_FS_HZ, RESP_FS_HZ, BedSynth, sample_times
from wardwatch.streams.scenarios.timeline import Effects, Timeline
from wardwatch.streams.simulator import VITAL_DYNAMICS, ou_step

__all__ = ["ScenarioRunner", "RunSummary", "run_scenario", "write_labels", "LOW_BATTERY_PCT"]

logger = logging.getLogger(__name__)

LOW_BATTERY_PCT = 20.0
_CODES = dict(zip(VITALS, ("MDC_ECG_HEART_RATE", "MDC_PULS_OXIM_SAT_O2", "MDC_RESP_RATE", "MDC_PRESS_BLD_NONINV_SYS",
                           "MDC_PRESS_BLD_NONINV_DIA", "MDC_TEMP_BODY")))
_UNITS = {"hr_bpm": "/min", "spo2_pct": "%", "rr_per_min": "/min", "sbp_mmhg": "mm[Hg]", "dbp_mmhg": "mm[Hg]", "temp_c": "Cel"}
_DYN = np.array([VITAL_DYNAMICS[_CODES[v]] for v in VITALS], dtype=np.float64)  # (6, 8)
_MEAN, _SD, _LO, _HI, _NOISE, _TAU = (_DYN[:, i] for i in range(6))
_I = {v: i for i, v in enumerate(VITALS)}
_GAIN = 1000.0  # int16 counts per mV (ECG) or per unit (PPG, impedance)
_SKIN_EVERY_S = 60
_FLUSH_RECORDS = 2000  # behind schedule or in fast mode, records go to Kafka in batches of at most this


@dataclass
class _Bed:
    plan: BedPlan
    ref: str
    device: str
    rng: np.random.Generator
    timeline: Timeline
    baseline: np.ndarray
    synth: BedSynth = field(init=False)
    state: np.ndarray = field(init=False)
    resp_phase: float = 0.0

    def __post_init__(self) -> None:
        self.synth = BedSynth(self.rng, r_amp_mv=float(self.rng.uniform(0.8, 1.4)))
        self.state = self.baseline.copy()
        self.resp_phase = float(self.rng.uniform(0, 2 * np.pi))


def _baseline(plan: BedPlan, rng: np.random.Generator) -> np.ndarray:
    drawn = np.clip(rng.normal(_MEAN, _SD), _LO, _HI)
    given = [getattr(plan.baseline, v) for v in VITALS]
    out = np.array([g if g is not None else d for g, d in zip(given, drawn)], dtype=np.float64)
    if plan.baseline.dbp_mmhg is None:
        out[_I["dbp_mmhg"]] = min(out[_I["dbp_mmhg"]], out[_I["sbp_mmhg"]] - 25.0)
    return out


class ScenarioRunner:
    """Every bed of ``plan``, one :meth:`step` (one simulated second) at a time."""

    def __init__(self, plan: WardPlan, secret: bytes, start_ns: int, catalog: dict[str, ScenarioSpec] | None = None,
                 waveforms: bool | None = None) -> None:
        self.plan = plan
        self.catalog = scenario_catalog() if catalog is None else catalog
        self.start_ns = start_ns
        self.waveforms = plan.waveforms if waveforms is None else waveforms
        self.second = 0
        self.beds: list[_Bed] = []
        for i, bed in enumerate(plan.beds):
            rng = np.random.default_rng([plan.seed, i])
            kind = "wearable" if bed.wearable else "monitor"
            self.beds.append(_Bed(bed, pseudonymize(bed.patient, secret), bed.device or f"sim-{kind}-{bed.bed}", rng,
                                  Timeline(bed.events, self.catalog), _baseline(bed, rng)))

    @property
    def now_ns(self) -> int:
        """Simulated time of the next :meth:`step`."""
        return self.start_ns + self.second * 1_000_000_000

    @property
    def patients(self) -> dict[str, str]:
        """Bed → pseudonymous reference."""
        return {b.plan.bed: b.ref for b in self.beds}

    def labels(self, duration_s: float | None = None) -> list[Label]:
        """The ground truth of a run of ``duration_s`` seconds (the plan's duration by default)."""
        return labels_for(self.plan, self.catalog, self.patients, self.start_ns, duration_s)

    def admission_events(self) -> list[ChartedEvent]:
        """What is charted at the start: oxygen on or off, ACVPU alert."""
        return [
            ChartedEvent(patient_ref=b.ref, ward=self.plan.name, bed=b.plan.bed, source="sim-nurse", timestamp_ns=self.start_ns,
                         event=event, value=value)
            for b in self.beds
            for event, value in (("supplemental_oxygen", "on" if b.plan.oxygen else "off"), ("consciousness", "A"))
        ]

    def step(self) -> list[Record]:
        """The records of every bed for ``[now, now + 1 s)``; then advance one second."""
        out: list[Record] = []
        for bed in self.beds:
            out.extend(self._bed_second(bed))
        self.second += 1
        return out

    def _bed_second(self, bed: _Bed) -> list[Record]:
        s = self.second
        fx = bed.timeline.at(float(s))
        bed.state = ou_step(bed.state, self._setpoint(bed, fx), _NOISE, _TAU, 1.0, bed.rng.standard_normal(len(VITALS)))
        hr_target = float(max(bed.state[_I["hr_bpm"]], 20.0))

        def rhythm_at(t: float) -> tuple[str, float, float]:
            f = fx if t < s + 1 else bed.timeline.at(t)
            return f.rhythm, f.rate_bpm or hr_target, f.irregularity

        bed.synth.schedule(s + 1.3, rhythm_at)
        rr = float(max(bed.state[_I["rr_per_min"]], 4.0))
        phase0, bed.resp_phase = bed.resp_phase, bed.resp_phase + 2 * np.pi * rr / 60.0
        if "dropout" in fx.faults:
            return []
        battery = fx.battery_pct if fx.battery_pct is not None else bed.plan.baseline.battery_pct
        flags: tuple[QualityFlag, ...] = ("battery_low",) if battery < LOW_BATTERY_PCT else ()
        where = {"patient_ref": bed.ref, "ward": self.plan.name, "bed": bed.plan.bed, "device_id": bed.device}
        records: list[Record] = self._numerics(bed, fx, s, where, flags)
        if self.waveforms:
            records += self._waveforms(bed, fx, s, phase0, rr, where, flags)
        return records

    def _setpoint(self, bed: _Bed, fx: Effects) -> np.ndarray:
        return bed.baseline + np.array([fx.deltas[v] for v in VITALS])

    def _numerics(self, bed: _Bed, fx: Effects, s: int, where: dict[str, str], flags: tuple[QualityFlag, ...]) -> list[Record]:
        ts = self.start_ns + s * 1_000_000_000
        values: dict[str, float] = {}
        hr = bed.synth.hr_bpm(float(s))
        if "lead_off" not in fx.faults and np.isfinite(hr):
            values["hr_bpm"] = round(hr)
        if "probe_off" not in fx.faults and bed.synth.perfused(float(s)):
            spo2 = bed.state[_I["spo2_pct"]]
            if fx.motion_severity > 0:  # motion: false dips
                spo2 -= bed.rng.uniform(0.0, 8.0 * fx.motion_severity)
            values["spo2_pct"] = round(float(np.clip(spo2, 50.0, 100.0)))
        values["rr_per_min"] = round(float(np.clip(bed.state[_I["rr_per_min"]], 4.0, 60.0)))
        if s % max(1, round(self.plan.nibp_every_s)) == 0:
            sbp = float(np.clip(bed.state[_I["sbp_mmhg"]], 50.0, 250.0))
            values["sbp_mmhg"] = round(sbp)
            values["dbp_mmhg"] = round(float(np.clip(bed.state[_I["dbp_mmhg"]], 25.0, sbp - 15.0)))
        temp = float(np.clip(bed.state[_I["temp_c"]], 33.0, 42.5))
        if s % max(1, round(self.plan.temp_every_s)) == 0:
            values["temp_c"] = round(temp, 1)
        out: list[Record] = [
            NumericObservation(**where, signal=_CODES[v], unit=_UNITS[v], timestamp_ns=ts, value=float(x), quality=flags)
            for v, x in values.items()
        ]
        if bed.plan.wearable and s % _SKIN_EVERY_S == 0:
            skin = round(temp - 3.2 + float(bed.rng.normal(0.0, 0.1)), 1)
            out.append(NumericObservation(**where, signal="MDC_TEMP_SKIN", unit="Cel", timestamp_ns=ts, value=skin, quality=flags))
        return out

    def _waveforms(self, bed: _Bed, fx: Effects, s: int, phase0: float, rr: float, where: dict[str, str],
                   flags: tuple[QualityFlag, ...]) -> list[Record]:
        synth, severity = bed.synth, fx.motion_severity

        def phase(t: np.ndarray) -> np.ndarray:
            return phase0 + 2 * np.pi * rr / 60.0 * (t - s)

        def chunk(signal: str, unit: str, fs: float, values: np.ndarray, quality: tuple[QualityFlag, ...] = ()) -> WaveformChunk:
            return WaveformChunk.from_array(np.clip(values, -32.0, 32.0), gain=_GAIN, **where, signal=signal, unit=unit, fs_hz=fs,
                                            start_ns=self.start_ns + round(t[0] * 1e9), quality=flags + quality)

        out: list[Record] = []
        t = sample_times(s, ECG_FS_HZ)
        if "lead_off" in fx.faults:
            out.append(chunk("MDC_ECG_ELEC_POTL_II", "mV", ECG_FS_HZ, np.zeros_like(t), ("lead_off",)))
        else:
            ecg = synth.ecg_mv(t, phase(t), af_waves=fx.rhythm == "af")
            if severity > 0:
                ecg += 0.8 * severity * synth.motion(t)[0] + 0.3 * severity * synth.motion(t * 3.1)[1]
            out.append(chunk("MDC_ECG_ELEC_POTL_II", "mV", ECG_FS_HZ, ecg))
        t = sample_times(s, PPG_FS_HZ)
        if "probe_off" in fx.faults:
            out.append(chunk("MDC_PULS_OXIM_PLETH", "1", PPG_FS_HZ, np.zeros_like(t), ("probe_off",)))
        else:
            ppg = synth.ppg(t, phase(t))
            if severity > 0:
                ppg += 1.5 * severity * synth.motion(t)[1]
            out.append(chunk("MDC_PULS_OXIM_PLETH", "1", PPG_FS_HZ, ppg))
        t = sample_times(s, RESP_FS_HZ)
        resp = synth.resp(phase(t))
        if severity > 0:
            resp += 0.6 * severity * synth.motion(t)[2]
        out.append(chunk("MDC_IMPED_TTHOR", "1", RESP_FS_HZ, resp))
        if bed.plan.wearable:
            t = sample_times(s, ACCEL_FS_HZ)
            for axis, values in zip("XYZ", synth.accel_ms2(t, severity)):
                out.append(WaveformChunk.from_array(values, **where, signal=f"WARDWATCH_ACCEL_{axis}", unit="m/s2", fs_hz=ACCEL_FS_HZ,
                                                    start_ns=self.start_ns + round(t[0] * 1e9), quality=flags))
        return out


def write_labels(labels: list[Label], path: str | Path) -> None:
    """Write ground-truth labels as JSON lines (one label per line)."""
    with Path(path).open("wb") as f:
        for label in labels:
            f.write(label.to_json() + b"\n")


@dataclass
class RunSummary:
    start_ns: int = 0
    seconds: int = 0
    records: int = 0
    labels: list[Label] = field(default_factory=list)
    patients: dict[str, str] = field(default_factory=dict)


async def run_scenario(settings: Any, plan: WardPlan, *, speed: float | None = 1.0, duration_s: float | None = None,
                       labels_path: str | Path | None = None, waveforms: bool | None = None, start_ns: int | None = None,
                       stop: asyncio.Event | None = None, sink: Any = None,
                       catalog: dict[str, ScenarioSpec] | None = None) -> RunSummary:
    """Run ``plan`` to Kafka at ``speed`` simulated seconds per second (``None``: as fast as possible)
    for ``duration_s`` (the plan's by default); write the labels first when ``labels_path`` is given."""
    from wardwatch.streams.publish import RecordProducer

    runner = ScenarioRunner(plan, settings.pseudonym.require_secret(), start_ns or time.time_ns(), catalog, waveforms)
    run_s = plan.duration_s if duration_s is None else duration_s
    summary = RunSummary(start_ns=runner.start_ns, labels=runner.labels(run_s), patients=runner.patients)
    if labels_path is not None:
        write_labels(summary.labels, labels_path)
    stop = stop or asyncio.Event()

    async def run(target: Any) -> None:
        pending: list[Record] = list(runner.admission_events())

        async def flush() -> None:
            if pending:
                await target.send_records(pending)
                summary.records += len(pending)
                summary.seconds = runner.second
                pending.clear()

        wall0 = time.monotonic()
        while not stop.is_set() and runner.second < run_s:
            delay = 0.0 if speed is None else wall0 + runner.second / speed - time.monotonic()
            if delay > 0:  # what is due is sent before waiting for the next second
                await flush()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                continue
            pending.extend(runner.step())
            if len(pending) >= _FLUSH_RECORDS:
                await flush()
        await flush()

    logger.info("scenario ward %s: %d beds, %g s at %s", plan.name, len(plan.beds), run_s, "full speed" if speed is None else f"{speed:g}x")
    if sink is not None:
        await run(sink)
    else:
        from wardwatch.streams.topics import ensure_topics

        await asyncio.to_thread(ensure_topics, settings.kafka)
        async with RecordProducer(settings.kafka) as producer:
            await run(producer)
    logger.info("scenario ward %s stopped after %d s, %d records", plan.name, summary.seconds, summary.records)
    return summary
