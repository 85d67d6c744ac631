"""Per-patient scoring state: windowed vital signs and charted events in, NEWS2 features out.

:class:`PatientScorer` is the pure core of the score agent. It keeps, for one patient, the recent
samples of the signals NEWS2 reads (bounded by each signal's window), the charted events, and when
it last emitted. Every ``emit_every_s`` of *event time*, and at once after a charted event, it
emits a :class:`~wardwatch.streams.records.Features` record with the NEWS2 total, the sub-scores
that are present, the band, and the windowed inputs the score was computed from, so every number
can be checked; and a ``trends`` Features record: level, personal baseline, deviation, change and
slope over 15 min, 1 h and 4 h of each vital sign (:mod:`wardwatch.models.trends`), and the
seconds since each kind of charted observation.

It is replay-safe: a sample whose timestamp is not newer than the last one seen for its signal is
ignored, so records processed again after a worker restart change nothing. Its whole state is a
plain dict (:meth:`to_state` / :meth:`from_state`), kept by the agent in a Faust table with a
changelog.

>>> from wardwatch.streams.records import NumericObservation
>>> s = PatientScorer("p-0123456789abcdef0123", "ward-a", "01", ScoringConfig(emit_every_s=60))
>>> out = s.observe(NumericObservation(patient_ref="p-0123456789abcdef0123", ward="ward-a", bed="01",
...     device_id="m", signal="MDC_RESP_RATE", unit="/min", timestamp_ns=1_790_000_040_000_000_000, value=26.0))
>>> [f.source for f in out], out[0].values["news2.respiration_rate"], out[0].flags
(['news2', 'trends'], 3.0, ('partial',))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from wardwatch.models.news2 import PARAMS, SOURCES, Band, News2Result, news2, windowed_inputs
from wardwatch.models.trends import ChartedRecency, SignalTrend
from wardwatch.streams.records import ChartedEvent, Features, NumericObservation

__all__ = ["ScoringConfig", "PatientScorer", "BAND_LEVEL", "news2_features", "TREND_SIGNALS"]

#: Signals whose trends are followed, with the short name their feature values carry.
TREND_SIGNALS: dict[str, str] = {
    "MDC_ECG_HEART_RATE": "hr",
    "MDC_PULS_OXIM_SAT_O2": "spo2",
    "MDC_RESP_RATE": "rr",
    "MDC_PRESS_BLD_NONINV_SYS": "sbp",
    "MDC_TEMP_BODY": "temp",
}

#: Band as a number for dashboards and InfluxDB: low 0, low-medium 1, medium 2, high 3.
BAND_LEVEL: dict[Band, int] = {Band.LOW: 0, Band.LOW_MEDIUM: 1, Band.MEDIUM: 2, Band.HIGH: 3}

_NEWS2_SIGNALS: frozenset[str] = frozenset(s for signals in SOURCES.values() for s in signals)
_USED_SIGNALS: frozenset[str] = _NEWS2_SIGNALS | frozenset(TREND_SIGNALS)
_CHARTED = ("supplemental_oxygen", "consciousness", "spo2_scale")


@dataclass(frozen=True)
class ScoringConfig:
    """Windows and cadence of the score agent.

    ``window_s``: median window of continuously measured signals; ``window_s_by_signal``: longer
    windows for intermittent ones (a cuff pressure every 15-60 min, a temperature every few hours);
    ``emit_every_s``: how often (event time) a NEWS2 evaluation is emitted.
    """

    window_s: float = 300.0
    window_s_by_signal: dict[str, float] = field(
        default_factory=lambda: {"MDC_PRESS_BLD_NONINV_SYS": 3600.0, "MDC_TEMP_BODY": 4 * 3600.0}
    )
    emit_every_s: float = 30.0

    def window_for(self, signal: str) -> float:
        return self.window_s_by_signal.get(signal, self.window_s)


def news2_features(result: News2Result, inputs: dict[str, float | None]) -> tuple[dict[str, float], tuple[str, ...]]:
    """The values and flags of one NEWS2 evaluation as a Features record carries them."""
    values: dict[str, float] = {"news2.total": float(result.total), "news2.band_level": float(BAND_LEVEL[result.band])}
    values["news2.any_single_3"] = 1.0 if result.any_single_3 else 0.0
    values["news2.missing"] = float(len(result.missing))
    for param in PARAMS:
        sub = result.subscores[param]
        if sub is not None:
            values[f"news2.{param}"] = float(sub)
    for name, value in inputs.items():
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            values[f"input.{name}"] = float(value)
    return values, (("partial",) if result.partial else ())


class PatientScorer:
    """One patient's scoring state. Feed it that patient's records in any order; it emits Features."""

    def __init__(self, patient_ref: str, ward: str, bed: str, config: ScoringConfig | None = None) -> None:
        self.patient_ref = patient_ref
        self.ward = ward
        self.bed = bed
        self.config = config or ScoringConfig()
        self._samples: dict[str, list[tuple[int, float]]] = {}
        self._last_ts: dict[str, int] = {}
        self._events: list[ChartedEvent] = []
        self._next_emit_ns = 0
        self._trends: dict[str, SignalTrend] = {}
        self._recency = ChartedRecency()

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "ward": self.ward,
            "bed": self.bed,
            "samples": {k: [list(p) for p in v] for k, v in self._samples.items()},
            "last_ts": dict(self._last_ts),
            "events": [[e.timestamp_ns, e.event, e.value, e.source] for e in self._events],
            "next_emit_ns": self._next_emit_ns,
            "trends": {k: t.to_state() for k, t in self._trends.items()},
            "recency": self._recency.to_state(),
        }

    @classmethod
    def from_state(cls, patient_ref: str, state: dict[str, Any], config: ScoringConfig | None = None) -> "PatientScorer":
        scorer = cls(patient_ref, state["ward"], state["bed"], config)
        scorer._samples = {k: [(int(t), float(v)) for t, v in pts] for k, pts in state["samples"].items()}
        scorer._last_ts = {k: int(v) for k, v in state["last_ts"].items()}
        scorer._events = [
            ChartedEvent(patient_ref=patient_ref, ward=scorer.ward, bed=scorer.bed, source=src, timestamp_ns=int(t), event=ev, value=val)
            for t, ev, val, src in state["events"]
        ]
        scorer._next_emit_ns = int(state["next_emit_ns"])
        scorer._trends = {k: SignalTrend.from_state(v) for k, v in state.get("trends", {}).items()}
        if "recency" in state:
            scorer._recency = ChartedRecency.from_state(state["recency"])
        return scorer

    # -- input ---------------------------------------------------------------------------
    def accepts(self, record: NumericObservation | ChartedEvent) -> bool:
        """Whether :meth:`observe` would change the state (``False``: skip it, nothing to store)."""
        if isinstance(record, ChartedEvent):
            if record.event in _CHARTED:
                return not any((e.timestamp_ns, e.event) == (record.timestamp_ns, record.event) for e in self._events)
            last = self._recency.last_timestamp(record.event)
            return last is None or record.timestamp_ns > last
        return record.signal in _USED_SIGNALS and record.timestamp_ns > self._last_ts.get(record.signal, -1)

    def observe(self, record: NumericObservation | ChartedEvent) -> list[Features]:
        """Take one record; return the Features it makes due (usually none)."""
        self.ward, self.bed = record.ward, record.bed
        if isinstance(record, ChartedEvent):
            return self._observe_event(record)
        if not self.accepts(record):
            return []  # not used, or seen already (a replay after restart), or out of order
        self._last_ts[record.signal] = record.timestamp_ns
        if record.signal in TREND_SIGNALS:
            trend = self._trends.get(record.signal)
            if trend is None:
                trend = self._trends[record.signal] = SignalTrend(record.signal)
            trend.update(record.timestamp_ns, record.value)
        if record.signal not in _NEWS2_SIGNALS:
            return []
        pts = self._samples.setdefault(record.signal, [])
        pts.append((record.timestamp_ns, record.value))
        horizon = record.timestamp_ns - round(self.config.window_for(record.signal) * 1e9)
        while pts and pts[0][0] <= horizon:
            pts.pop(0)
        now = record.timestamp_ns
        if now < self._next_emit_ns:
            return []
        return self._emit(now)

    def _observe_event(self, event: ChartedEvent) -> list[Features]:
        if not self.accepts(event):
            return []
        self._recency.update(event)
        if event.event not in _CHARTED:
            return []
        self._events.append(event)
        # keep the newest few of each kind: enough for out-of-order arrivals, bounded
        for kind in _CHARTED:
            of_kind = sorted((e for e in self._events if e.event == kind), key=lambda e: e.timestamp_ns)
            for old in of_kind[:-4]:
                self._events.remove(old)
        latest = max([event.timestamp_ns, *self._last_ts.values()])
        return self._emit(latest)

    def _emit(self, now_ns: int) -> list[Features]:
        step = round(self.config.emit_every_s * 1e9)
        self._next_emit_ns = (now_ns // step + 1) * step
        inputs = windowed_inputs(
            self._samples,
            now_ns=now_ns,
            window_s=self.config.window_s,
            window_s_by_signal=self.config.window_s_by_signal,
            events=self._events,
        )
        result = news2(inputs)
        used = {
            "rr_per_min": inputs.rr_per_min,
            "spo2_pct": inputs.spo2_pct,
            "sbp_mmhg": inputs.sbp_mmhg,
            "pulse_per_min": inputs.pulse_per_min,
            "temp_c": inputs.temp_c,
        }
        values, flags = news2_features(result, used)
        common = {"patient_ref": self.patient_ref, "ward": self.ward, "bed": self.bed, "timestamp_ns": now_ns}
        return [
            Features(**common, source="news2", values=values, flags=flags),
            Features(**common, source="trends", values=self._trend_values(now_ns)),
        ]

    def _trend_values(self, now_ns: int) -> dict[str, float]:
        values: dict[str, float] = {}
        for signal, trend in self._trends.items():
            snap = trend.snapshot(now_ns)
            short = TREND_SIGNALS[signal]
            values[f"{short}.level"] = snap.level
            values[f"{short}.baseline"] = snap.baseline
            values[f"{short}.deviation"] = snap.deviation
            for label in snap.change:
                values[f"{short}.change_{label}"] = snap.change[label]
                values[f"{short}.slope_{label}_per_h"] = snap.slope_per_h[label]
        for kind, seconds in self._recency.snapshot(now_ns).items():
            values[f"since_charted.{kind}_s"] = seconds
        return values
