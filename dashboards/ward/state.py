"""What the ward page shows, kept in memory: pure code, no Kafka, no HTTP.

:class:`WardState` takes canonical records (numerics, features, waveform chunks, alerts, alert
notes) of one ward and keeps, per bed, the latest vital signs, NEWS2, a short history for trend
sparklines, the last seconds of ECG and pleth for a waveform strip, the bed's alarms (latest state
of each) and their notes. :meth:`WardState.apply` says which bed changed; :meth:`WardState.summary`
and :meth:`WardState.detail` give the JSON the page draws. Patients appear only as their
pseudonymous reference.

>>> state = WardState("ward-a", history_s=600)
>>> obs = NumericObservation(patient_ref="p-0123456789abcdef0123", ward="ward-a", bed="01",
...     device_id="m-01", signal="MDC_ECG_HEART_RATE", unit="/min", timestamp_ns=1_790_000_000_000_000_000, value=72.0)
>>> state.apply(obs)
'01'
>>> state.summary("01")["vitals"]["hr"]["value"]
72.0
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wardwatch.streams.records import Alert, AlertNote, Features, NumericObservation, Record, WaveformChunk

__all__ = ["WardState", "BedState", "VITALS", "TRENDS", "PRIORITY_RANK", "STRIP_SIGNALS"]

logger = logging.getLogger(__name__)

#: Short name on the page → signal code, in the order the tile shows them.
VITALS: dict[str, str] = {
    "hr": "MDC_ECG_HEART_RATE",
    "spo2": "MDC_PULS_OXIM_SAT_O2",
    "rr": "MDC_RESP_RATE",
    "sbp": "MDC_PRESS_BLD_NONINV_SYS",
    "dbp": "MDC_PRESS_BLD_NONINV_DIA",
    "temp": "MDC_TEMP_BODY",
}
#: Series kept for the sparklines of the detail view (short names of :data:`VITALS`, plus ``news2``).
TRENDS: tuple[str, ...] = ("hr", "spo2", "rr", "sbp", "news2")
#: Waveforms kept for the strip of the detail view, in order of preference.
STRIP_SIGNALS: tuple[str, ...] = ("MDC_ECG_ELEC_POTL_II", "MDC_PULS_OXIM_PLETH")
PRIORITY_RANK: dict[str, int] = {"high": 3, "medium": 2, "low": 1}
_CODE_TO_SHORT = {code: short for short, code in VITALS.items()}
_BANDS = ("low", "low-medium", "medium", "high")
_OPEN = ("active", "escalated", "acknowledged")
_STATE_ORDER = {"active": 0, "escalated": 1, "acknowledged": 2, "resolved": 3}
_STRIP_S = 6.0
_MAX_POINTS = 600
_FLAG_FRESH_NS = 10 * 10**9  # quality flags older than this (relative to the bed's newest record) are not shown


@dataclass
class BedState:
    """One bed: who is in it (pseudonymous reference) and what is known of them."""

    bed: str
    patient_ref: str
    updated_ns: int = 0
    vitals: dict[str, tuple[float, int, tuple[str, ...]]] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    history: dict[str, deque[tuple[int, float]]] = field(default_factory=dict)
    strips: dict[str, deque[WaveformChunk]] = field(default_factory=dict)
    wave_flags: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)
    notes: dict[str, list[AlertNote]] = field(default_factory=dict)


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


class WardState:
    """The ward page's memory of one ward.

    Parameters
    ----------
    ward : str
        Records of other wards are ignored.
    history_s : float
        How far back the trend sparklines reach, seconds.
    max_closed : int
        Resolved alarms kept per bed for the detail view.
    """

    def __init__(self, ward: str, history_s: float = 600.0, max_closed: int = 20) -> None:
        if history_s <= 0:
            raise ValueError("history_s must be positive")
        self.ward, self.history_ns, self.max_closed = ward, int(history_s * 1e9), max_closed
        self.beds: dict[str, BedState] = {}
        self._alert_bed: dict[str, str] = {}

    # -- input --------------------------------------------------------------------------------
    def apply(self, record: Record) -> str | None:
        """Take one record; return the bed it changed, or ``None`` when it changed nothing."""
        if isinstance(record, AlertNote):
            return self._note(record)
        if getattr(record, "ward", None) != self.ward:
            return None
        bed = self._bed(record.bed, record.patient_ref)  # type: ignore[union-attr]
        if isinstance(record, NumericObservation):
            self._numeric(bed, record)
        elif isinstance(record, Features):
            self._features(bed, record)
        elif isinstance(record, WaveformChunk):
            self._waveform(bed, record)
        elif isinstance(record, Alert):
            self._alert(bed, record)
        else:
            return None
        return bed.bed

    def _bed(self, label: str, patient_ref: str) -> BedState:
        bed = self.beds.get(label)
        if bed is None or bed.patient_ref != patient_ref:  # a new patient in the bed: start afresh
            bed = self.beds[label] = BedState(label, patient_ref)
        return bed

    def _push(self, bed: BedState, name: str, t_ns: int, value: float) -> None:
        series = bed.history.setdefault(name, deque())
        if series and t_ns < series[-1][0]:
            return  # out of order (a replayed record): the sparkline only moves forward
        series.append((t_ns, value))
        while series and series[0][0] < t_ns - self.history_ns:
            series.popleft()

    def _numeric(self, bed: BedState, obs: NumericObservation) -> None:
        known = bed.vitals.get(obs.signal)
        if known is None or obs.timestamp_ns >= known[1]:
            bed.vitals[obs.signal] = (obs.value, obs.timestamp_ns, tuple(obs.quality))
        bed.updated_ns = max(bed.updated_ns, obs.timestamp_ns)
        short = _CODE_TO_SHORT.get(obs.signal)
        if short in TRENDS:
            self._push(bed, short, obs.timestamp_ns, obs.value)

    def _features(self, bed: BedState, feat: Features) -> None:
        bed.features.update(feat.values)
        total = feat.values.get("news2.total")
        if total is not None and np.isfinite(total):
            self._push(bed, "news2", feat.timestamp_ns, float(total))

    def _waveform(self, bed: BedState, chunk: WaveformChunk) -> None:
        known = bed.wave_flags.get(chunk.signal)
        if known is None or chunk.start_ns >= known[1]:
            bed.wave_flags[chunk.signal] = (tuple(chunk.quality), chunk.start_ns)
        bed.updated_ns = max(bed.updated_ns, chunk.end_ns)
        if chunk.signal not in STRIP_SIGNALS:
            return
        strip = bed.strips.setdefault(chunk.signal, deque())
        strip.append(chunk)
        while strip and strip[0].end_ns < chunk.end_ns - int(_STRIP_S * 1e9):
            strip.popleft()

    def _alert(self, bed: BedState, alert: Alert) -> None:
        known = bed.alerts.get(alert.alert_id)
        if known is not None and (known.updated_ns, _STATE_ORDER[known.state]) > (alert.updated_ns, _STATE_ORDER[alert.state]):
            return  # an older state arriving late changes nothing
        bed.alerts[alert.alert_id] = alert
        self._alert_bed[alert.alert_id] = bed.bed
        closed = sorted((a for a in bed.alerts.values() if a.state == "resolved"), key=lambda a: a.updated_ns)
        for old in closed[: max(0, len(closed) - self.max_closed)]:
            del bed.alerts[old.alert_id]
            bed.notes.pop(old.alert_id, None)

    def _note(self, note: AlertNote) -> str | None:
        label = self._alert_bed.get(note.alert_id)
        bed = self.beds.get(label) if label is not None else None
        if bed is None or bed.patient_ref != note.patient_ref:
            return None  # a note of an alert this page never saw (another ward)
        notes = bed.notes.setdefault(note.alert_id, [])
        if all(n.created_ns != note.created_ns for n in notes):
            notes.append(note)
        return bed.bed

    # -- output -------------------------------------------------------------------------------
    def summary(self, label: str) -> dict[str, Any]:
        """One bed's tile: vitals, NEWS2 and its band, the alarm to show first and counts."""
        bed = self.beds[label]
        vitals = {short: {"value": v[0], "t_ns": v[1], "quality": list(v[2])}
                  for short, code in VITALS.items() if (v := bed.vitals.get(code)) is not None}
        total, level = _finite(bed.features.get("news2.total")), _finite(bed.features.get("news2.band_level"))
        news2 = None if total is None else {
            "total": int(round(total)),
            "band": _BANDS[min(3, max(0, int(level or 0)))],
            "partial": bool(bed.features.get("news2.missing")),
        }
        open_alerts = [a for a in bed.alerts.values() if a.state in _OPEN]
        ranked = sorted(open_alerts, key=lambda a: (a.state != "acknowledged", PRIORITY_RANK[a.priority], a.updated_ns), reverse=True)
        return {
            "bed": bed.bed,
            "patient_ref": bed.patient_ref,
            "updated_ns": bed.updated_ns,
            "vitals": vitals,
            "news2": news2,
            "flags": sorted({f for v in bed.vitals.values() if v[1] >= bed.updated_ns - _FLAG_FRESH_NS for f in v[2]}
                            | {f for flags, t in bed.wave_flags.values() if t >= bed.updated_ns - _FLAG_FRESH_NS for f in flags}),
            "alarms": [self._brief(a, bed) for a in ranked],
        }

    @staticmethod
    def _brief(alert: Alert, bed: BedState) -> dict[str, Any]:
        return {
            "alert_id": alert.alert_id,
            "patient_ref": alert.patient_ref,
            "priority": alert.priority,
            "kind": alert.kind,
            "state": alert.state,
            "source": alert.source,
            "message": alert.message,
            "onset_ns": alert.onset_ns,
            "updated_ns": alert.updated_ns,
            "notes": len(bed.notes.get(alert.alert_id, ())),
        }

    def ward_summary(self) -> list[dict[str, Any]]:
        """Every bed's tile, in bed order."""
        return [self.summary(label) for label in sorted(self.beds)]

    def find_alert(self, alert_id: str) -> Alert | None:
        """The latest state of one alert, if this page has seen it."""
        label = self._alert_bed.get(alert_id)
        bed = self.beds.get(label) if label is not None else None
        return None if bed is None else bed.alerts.get(alert_id)

    def detail(self, label: str) -> dict[str, Any]:
        """One bed's detail: its tile, trend series, a waveform strip, every alarm with notes and evidence."""
        bed = self.beds[label]
        alerts = []
        for alert in sorted(bed.alerts.values(), key=lambda a: (a.state != "resolved", a.onset_ns), reverse=True):  # open first
            brief = self._brief(alert, bed)
            ev = alert.evidence
            brief["evidence"] = {"values": ev.values, "thresholds": ev.thresholds, "scores": ev.scores,
                                 "signal_quality": ev.signal_quality}
            brief["notes"] = [{"text": n.text, "backend": n.backend, "verified": n.verified, "created_ns": n.created_ns}
                              for n in bed.notes.get(alert.alert_id, ())]
            if ev.snippet is not None:
                brief["snippet"] = _strip([ev.snippet])
            alerts.append(brief)
        strip = next((_strip(list(bed.strips[s])) for s in STRIP_SIGNALS if bed.strips.get(s)), None)
        return {
            "summary": self.summary(label),
            "trends": {name: _thin(bed.history[name]) for name in TRENDS if bed.history.get(name)},
            "strip": strip,
            "ecg_features": {k: v for k, v in sorted(bed.features.items()) if k.split(".")[0] in ("ecg", "ppg", "resp") and np.isfinite(v)},
            "alerts": alerts,
        }


def _thin(series: deque[tuple[int, float]]) -> list[list[float]]:
    """At most :data:`_MAX_POINTS` ``[t_ns, value]`` pairs, evenly picked, the newest kept."""
    points = list(series)
    if len(points) > _MAX_POINTS:
        step = len(points) / _MAX_POINTS
        points = [points[int(i * step)] for i in range(_MAX_POINTS - 1)] + [points[-1]]
    return [[t, v] for t, v in points]


def _strip(chunks: list[WaveformChunk]) -> dict[str, Any]:
    """Concatenate contiguous chunks into one strip of at most 1500 samples (decimated, newest sample kept)."""
    values = np.concatenate([c.values() for c in chunks]) if chunks else np.zeros(0, dtype=np.float32)
    fs = chunks[0].fs_hz
    step = max(1, int(np.ceil(len(values) / 1500)))
    shown = values[(len(values) - 1) % step::step]  # the newest sample always kept
    return {"signal": chunks[0].signal, "unit": chunks[0].unit, "fs_hz": fs / step, "start_ns": chunks[0].start_ns,
            "values": [round(float(v), 4) for v in shown]}
