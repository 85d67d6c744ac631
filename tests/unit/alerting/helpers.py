"""Record builders and runners shared by the alerting unit tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from wardwatch.alerting import AlarmConfig, AlarmOutput, PatientAlarmEngine, load_config_text
from wardwatch.streams.records import AlarmAck, Alert, Features, NumericObservation, WaveformChunk

P = "p-0123456789abcdef0123"
T0 = 1_790_000_000_000_000_000
S = 1_000_000_000
UNITS = {"MDC_PULS_OXIM_SAT_O2": "%", "MDC_ECG_HEART_RATE": "/min", "MDC_RESP_RATE": "/min"}


def t(seconds: float) -> int:
    return T0 + round(seconds * S)


def num(signal: str, at_s: float, value: float, quality: tuple[str, ...] = (), bed: str = "01") -> NumericObservation:
    return NumericObservation(patient_ref=P, ward="ward-a", bed=bed, device_id="mon-1", signal=signal,
                              unit=UNITS[signal], timestamp_ns=t(at_s), value=value, quality=quality)  # type: ignore[arg-type]


def spo2(at_s: float, value: float, quality: tuple[str, ...] = ()) -> NumericObservation:
    return num("MDC_PULS_OXIM_SAT_O2", at_s, value, quality)


def series(signal: str, start_s: int, values: Sequence[float], quality: tuple[str, ...] = ()) -> list[NumericObservation]:
    """One sample a second from ``start_s``."""
    return [num(signal, start_s + k, v, quality) for k, v in enumerate(values)]


def feat(at_s: float, values: dict[str, float], source: str = "detector", flags: tuple[str, ...] = ()) -> Features:
    return Features(patient_ref=P, ward="ward-a", bed="01", timestamp_ns=t(at_s), source=source, values=values, flags=flags)


def ecg_chunk(at_s: float, quality: tuple[str, ...] = ()) -> WaveformChunk:
    import numpy as np

    return WaveformChunk.from_array(np.zeros(250), patient_ref=P, ward="ward-a", bed="01", device_id="mon-1",
                                    signal="MDC_ECG_ELEC_POTL_II", unit="mV", fs_hz=250.0, start_ns=t(at_s), quality=quality)


def ack(alert: Alert, at_s: float, role: str = "bedside_nurse") -> AlarmAck:
    return AlarmAck(alert_id=alert.alert_id, patient_ref=P, by_role=role, by_user="staff-0042", at_ns=t(at_s))


def config(rules_yaml: str, extra: str = "") -> AlarmConfig:
    return load_config_text("rules:\n" + rules_yaml + extra, "test.yaml")


def engine(cfg: AlarmConfig | str, **kw: Any) -> PatientAlarmEngine:
    return PatientAlarmEngine(P, "ward-a", "01", config(cfg) if isinstance(cfg, str) else cfg, **kw)


def run(eng: PatientAlarmEngine, items: Iterable[Any]) -> AlarmOutput:
    """Feed records (and ``("tick", seconds)`` pairs); collect every output."""
    out = AlarmOutput()
    for item in items:
        if isinstance(item, tuple) and item[0] == "tick":
            out.extend(eng.tick(t(item[1])))
        else:
            out.extend(eng.process(item))
    return out


def states(out: AlarmOutput, source: str | None = None) -> list[tuple[str, str, str]]:
    """(source, priority, state) of each alert record, in order."""
    return [(a.source, a.priority, a.state) for a in out.alerts if source is None or a.source == source]


SPO2_RULE = """\
  - {id: spo2.low, type: threshold, signal: MDC_PULS_OXIM_SAT_O2, op: "<", limit: 90, priority: medium, delay_s: 15}
"""
