"""Rule evaluators: one per configured rule and patient, fed records in event time.

Each evaluator turns the records it reads into a :class:`RuleStatus`: the *rank* of the condition
(-1 absent, else the index of its priority in ``("low", "medium", "high")``), when that rank last
changed, when the condition began, and the evidence and message fields. It knows nothing of alarms,
acknowledgements or Kafka: :mod:`wardwatch.alerting.engine` combines statuses and feeds the alarm
state machine. Persistence is judged on samples (a value confirms a level once the condition has
held ``delay_s``); :meth:`Evaluator.advance` only moves event time for the rules that need it
(no data, the verifier's wait). Every evaluator's state is a plain dict.

Hysteresis: a level's condition starts when the value crosses its limit and lasts until the value
is back by more than ``hysteresis`` (so a value wandering on the limit neither resets the delay
nor ends an alarm).

>>> from wardwatch.alerting.config import ThresholdRule
>>> from wardwatch.streams.records import NumericObservation
>>> rule = ThresholdRule(id="spo2.low", type="threshold", signal="MDC_PULS_OXIM_SAT_O2", op="<",
...                      limit=90, priority="medium", delay_s=15)
>>> ev = make_evaluator(rule, "p-0123456789abcdef0123")
>>> t0 = 1_790_000_000_000_000_000
>>> for k in range(20):
...     _ = ev.observe(NumericObservation(patient_ref="p-0123456789abcdef0123", ward="w", bed="1",
...         device_id="d", signal="MDC_PULS_OXIM_SAT_O2", unit="%", timestamp_ns=t0 + k * 10**9, value=86.0))
>>> st = ev.status()
>>> st.rank, (st.changed_ns - t0) // 10**9, st.fields["worst"]
(1, 15, 86.0)
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wardwatch.alerting.config import (
    PRIORITIES, ArrhythmiaRule, IntegralRule, News2Rule, NoDataRule, QualityFlagRule, ThresholdRule,
)
from wardwatch.streams.records import Features, NumericObservation, WaveformChunk
from wardwatch.streams.signals import SIGNALS

__all__ = ["RuleStatus", "VerifierRequest", "Verifier", "Evaluator", "make_evaluator"]

logger = logging.getLogger(__name__)

_S = 1_000_000_000
_OPS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class RuleStatus:
    """A rule's condition now: ``rank`` -1 (absent) or 0/1/2 (low/medium/high), with evidence."""

    rank: int
    changed_ns: int
    began_ns: int | None
    values: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifierRequest:
    """What a verifier hook is asked about: one confirmed arrhythmia condition."""

    rule_id: str
    patient_ref: str
    feature: str
    value: float
    began_ns: int
    confirmed_ns: int


#: A verifier hook: the probability (0-1) that the alarm is true, or ``None`` when it cannot tell.
Verifier = Callable[[VerifierRequest], "float | None"]


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


def _sample(record: Any, name: str) -> tuple[int, float, tuple[str, ...]] | None:
    """(timestamp, value, flags) of input ``name`` in ``record``, or ``None`` when it carries none."""
    if isinstance(record, NumericObservation):
        return (record.timestamp_ns, record.value, record.quality) if record.signal == name else None
    if isinstance(record, Features) and name in record.values:
        return record.timestamp_ns, record.values[name], record.flags
    return None


class Evaluator:
    """Base: three priority slots, each with the time its condition began (``None``: not holding)."""

    def __init__(self, rule: Any, patient_ref: str) -> None:
        self.rule = rule
        self.patient_ref = patient_ref
        self.since: list[int | None] = [None, None, None]
        self.rank = -1
        self.changed_ns = 0
        self.value = math.nan
        self.worst = math.nan

    # -- the slot tracker ------------------------------------------------------------------
    def _track(self, ts: int, on: list[bool], hold: list[bool], delay_s: float) -> None:
        for p in range(3):
            if self.since[p] is None and on[p]:
                self.since[p] = ts
            elif self.since[p] is not None and not hold[p]:
                self.since[p] = None
        confirmed = [p for p in range(3) if self.since[p] is not None and ts - self.since[p] >= round(delay_s * _S)]  # type: ignore[operator]
        self._set_rank(max(confirmed, default=-1), ts)
        if self.began_ns is None:
            self.worst = math.nan

    def _set_rank(self, rank: int, ts: int) -> None:
        if rank != self.rank:
            self.rank, self.changed_ns = rank, ts

    @property
    def began_ns(self) -> int | None:
        held = [s for s in self.since if s is not None]
        return min(held) if held else None

    def _worse(self, value: float, below: bool) -> None:
        self.value = value
        if self.began_ns is not None and (math.isnan(self.worst) or (value < self.worst if below else value > self.worst)):
            self.worst = value

    # -- interface -------------------------------------------------------------------------
    def observe(self, record: Any) -> bool:
        """Take one record; ``False`` when it carries nothing this rule reads."""
        return False

    def advance(self, now_ns: int) -> bool:
        """Move event time forward (no-data and verifier-wait rules act on it); ``True`` if the status changed."""
        return False

    def reset(self, ts: int) -> None:
        """Forget the condition (discharge)."""
        self.since = [None, None, None]
        self._set_rank(-1, ts)

    def status(self) -> RuleStatus:
        began = self.began_ns
        duration = (self.changed_ns - began) / _S if began is not None and self.rank >= 0 else math.nan
        return RuleStatus(self.rank, self.changed_ns, began, fields={
            "value": self.value, "worst": self.worst, "duration_s": duration, "rule": self.rule.id,
            "priority": PRIORITIES[self.rank] if self.rank >= 0 else "", "input": getattr(self.rule, "input", ""),
            "unit": "", "limit": math.nan, "area": math.nan, "threshold": math.nan, "partial": "",
        })

    def to_state(self) -> dict[str, Any]:
        return {"since": list(self.since), "rank": self.rank, "changed_ns": self.changed_ns,
                "value": _num(self.value), "worst": _num(self.worst)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.since = [None if s is None else int(s) for s in state["since"]]
        self.rank, self.changed_ns = int(state["rank"]), int(state["changed_ns"])
        self.value, self.worst = _nan(state["value"]), _nan(state["worst"])


def _unit(rule: Any) -> str:
    spec = SIGNALS.get(getattr(rule, "signal", None) or "")
    return spec.unit if spec else ""


class ThresholdEvaluator(Evaluator):
    """A value beyond each level's limit for ``delay_s``; the highest confirmed level sets the rank."""

    rule: ThresholdRule

    def observe(self, record: Any) -> bool:
        s = _sample(record, self.rule.input)
        if s is None or math.isnan(s[1]) or set(s[2]) & set(self.rule.ignore_quality):
            return False
        ts, v, _ = s
        cmp, below, h = _OPS[self.rule.op], self.rule.op in ("<", "<="), self.rule.hysteresis
        slots = self.rule.slots()
        on = [lv is not None and cmp(v, lv.limit) for lv in slots]
        hold = [lv is not None and cmp(v, lv.limit + h if below else lv.limit - h) for lv in slots]
        self._track(ts, on, hold, self.rule.delay_s)
        self._worse(v, below)
        return True

    def status(self) -> RuleStatus:
        st = super().status()
        slots = self.rule.slots()
        active = slots[st.rank] if st.rank >= 0 else next(lv for lv in slots if lv is not None)
        st.fields.update(limit=active.limit, unit=_unit(self.rule))  # type: ignore[union-attr]
        st.values.update({self.rule.input: self.value, "worst": self.worst})
        st.thresholds.update({f"limit.{lv.priority}": lv.limit for lv in slots if lv is not None})
        st.thresholds.update(delay_s=self.rule.delay_s, hysteresis=self.rule.hysteresis)
        return st


class IntegralEvaluator(Evaluator):
    """SatSeconds: area += distance beyond the limit x seconds (a sample's value holds until the next,
    for at most ``max_gap_s``); the alarm fires when the area reaches ``area``; leaving the zone
    (back past the limit by more than ``hysteresis``) resets the area and ends the condition."""

    rule: IntegralRule

    def __init__(self, rule: IntegralRule, patient_ref: str) -> None:
        super().__init__(rule, patient_ref)
        self.area = 0.0
        self.last_ts: int | None = None
        self.last_excess = 0.0

    def observe(self, record: Any) -> bool:
        s = _sample(record, self.rule.input)
        if s is None or math.isnan(s[1]) or set(s[2]) & set(self.rule.ignore_quality):
            return False
        ts, v, _ = s
        r, below, slot = self.rule, self.rule.op == "<", PRIORITIES.index(self.rule.priority)
        if self.last_ts is not None and self.last_excess > 0 and ts > self.last_ts:
            self.area += self.last_excess * min((ts - self.last_ts) / _S, r.max_gap_s)
        excess = max(0.0, (r.limit - v) if below else (v - r.limit))
        in_zone = (v < r.limit + r.hysteresis) if below else (v > r.limit - r.hysteresis)
        if not in_zone:
            self.area, self.since[slot], self.worst = 0.0, None, math.nan
        elif excess > 0 and self.since[slot] is None:
            self.since[slot] = ts
        self._set_rank(slot if self.since[slot] is not None and self.area >= r.area else -1, ts)
        self.last_ts, self.last_excess = ts, excess
        self._worse(v, below)
        return True

    def status(self) -> RuleStatus:
        st = super().status()
        st.fields.update(limit=self.rule.limit, unit=_unit(self.rule), area=self.area, threshold=self.rule.area)
        st.values.update({self.rule.input: self.value, "worst": self.worst, "area": self.area})
        st.thresholds.update(limit=self.rule.limit, area=self.rule.area)
        return st

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "area": self.area, "last_ts": self.last_ts, "last_excess": self.last_excess}

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.area, self.last_excess = float(state["area"]), float(state["last_excess"])
        self.last_ts = None if state["last_ts"] is None else int(state["last_ts"])


class News2Evaluator(Evaluator):
    """NEWS2 bands to priorities: any single parameter scoring 3, total >= each band's minimum."""

    rule: News2Rule

    def __init__(self, rule: News2Rule, patient_ref: str) -> None:
        super().__init__(rule, patient_ref)
        self.scores: dict[str, float] = {}
        self.inputs: dict[str, float] = {}
        self.partial = False

    def observe(self, record: Any) -> bool:
        if not isinstance(record, Features) or record.source != self.rule.source:
            return False
        total = record.values.get("news2.total", math.nan)
        if math.isnan(total):
            return False
        on, hold = [False] * 3, [False] * 3
        if self.rule.single_parameter_3 is not None and record.values.get("news2.any_single_3", 0.0) >= 1:
            p = PRIORITIES.index(self.rule.single_parameter_3)
            on[p] = hold[p] = True
        for band in self.rule.bands:
            p = PRIORITIES.index(band.priority)
            on[p] = on[p] or total >= band.min_total
            hold[p] = hold[p] or total >= band.min_total - self.rule.hysteresis
        self._track(record.timestamp_ns, on, hold, self.rule.delay_s)
        self._worse(total, below=False)
        self.scores = {k: v for k, v in record.values.items() if k.startswith("news2.") and not math.isnan(v)}
        self.inputs = {k: v for k, v in record.values.items() if k.startswith("input.") and not math.isnan(v)}
        self.partial = "partial" in record.flags
        return True

    def status(self) -> RuleStatus:
        st = super().status()
        st.scores.update(self.scores, partial=1.0 if self.partial else 0.0)
        st.values.update(self.inputs)
        st.thresholds.update({f"min_total.{b.priority}": float(b.min_total) for b in self.rule.bands})
        missing = int(self.scores.get("news2.missing", 0))
        st.fields.update(input="news2.total", partial=f" (partial: {missing} parameter(s) missing)" if self.partial else "")
        return st

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "scores": self.scores, "inputs": self.inputs, "partial": self.partial}

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.scores, self.inputs = dict(state["scores"]), dict(state["inputs"])
        self.partial = bool(state["partial"])


class ArrhythmiaEvaluator(Evaluator):
    """An arrhythmia call (feature >= limit for ``delay_s``), then the verifier gate.

    Once the call is confirmed the gate decides: a hook is called at once; a verifier feature is
    awaited up to ``wait_s``. A probability below ``min_probability`` suppresses the alarm until the
    call ends or a later verifier feature of the same call says ``>= min_probability``; no verifier (no gate configured, hook not registered, hook answers ``None``, no
    feature within ``wait_s``) lets it pass ungated, and the evidence says so.
    """

    rule: ArrhythmiaRule

    def __init__(self, rule: ArrhythmiaRule, patient_ref: str, verifiers: Mapping[str, Verifier]) -> None:
        super().__init__(rule, patient_ref)
        self.verifiers = verifiers
        self.confirmed_ns: int | None = None
        self.gate = ""  # "", "pending", "pass", "suppress"
        self.probability = math.nan
        self.verifier_ts: int | None = None
        self.verifier_p = math.nan

    def observe(self, record: Any) -> bool:
        gate, used = self.rule.verifier, False
        if gate is not None and gate.feature is not None:
            vs = _sample(record, gate.feature)
            if vs is not None and not math.isnan(vs[1]):
                self.verifier_ts, self.verifier_p, used = vs[0], vs[1], True
                if self.gate == "suppress" and vs[1] >= gate.min_probability:
                    self.gate = "pending"  # a later verdict of "true" lifts a suppression (never the reverse)
        s = _sample(record, self.rule.feature)
        if s is not None and not math.isnan(s[1]):
            used = True
            ts, v, slot = s[0], s[1], PRIORITIES.index(self.rule.priority)
            if v >= self.rule.limit:
                self.since[slot] = ts if self.since[slot] is None else self.since[slot]
            else:
                self.since[slot] = None
            if self.since[slot] is None or ts - self.since[slot] < round(self.rule.delay_s * _S):  # type: ignore[operator]
                self.confirmed_ns, self.gate, self.probability = None, "", math.nan
                self._set_rank(-1, ts)
            elif self.confirmed_ns is None:
                self.confirmed_ns, self.gate = ts, "pending"
            self._worse(v, below=False)
        if self.gate == "pending":
            self._decide(self.confirmed_ns or 0)
        return used

    def advance(self, now_ns: int) -> bool:
        return self._decide(now_ns) if self.gate == "pending" else False

    def _decide(self, now_ns: int) -> bool:
        gate, began, confirmed = self.rule.verifier, self.began_ns, self.confirmed_ns
        assert began is not None and confirmed is not None
        at, p = confirmed, None
        if gate is not None and gate.hook is not None:
            hook = self.verifiers.get(gate.hook)
            if hook is None:
                logger.info("rule %s: verifier hook %r not registered; alarm passes ungated", self.rule.id, gate.hook)
            else:
                p = hook(VerifierRequest(self.rule.id, self.patient_ref, self.rule.feature, self.value, began, confirmed))
        elif gate is not None:  # a feature: wait for it, at most wait_s
            if self.verifier_ts is not None and self.verifier_ts >= began:
                at, p = max(confirmed, self.verifier_ts), self.verifier_p
            elif now_ns < confirmed + round(gate.wait_s * _S):
                return False
            else:
                at = confirmed + round(gate.wait_s * _S)
        self.probability = math.nan if p is None else float(p)
        if gate is not None and p is not None and p < gate.min_probability:
            self.gate = "suppress"
            logger.info("rule %s: alarm suppressed by the verifier (p=%.2f < %.2f)", self.rule.id, p, gate.min_probability)
            return True
        self.gate = "pass"
        self._set_rank(PRIORITIES.index(self.rule.priority), at)
        return True

    def status(self) -> RuleStatus:
        st = super().status()
        st.fields.update(limit=self.rule.limit)
        st.values.update({self.rule.feature: self.value, "verifier.gated": 0.0 if math.isnan(self.probability) else 1.0})
        if not math.isnan(self.probability):
            st.scores["verifier.true_alarm_probability"] = self.probability
        if self.rule.verifier is not None:
            st.thresholds["verifier.min_probability"] = self.rule.verifier.min_probability
        st.thresholds.update(limit=self.rule.limit, delay_s=self.rule.delay_s)
        return st

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "confirmed_ns": self.confirmed_ns, "gate": self.gate, "probability": _num(self.probability),
                "verifier_ts": self.verifier_ts, "verifier_p": _num(self.verifier_p)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.confirmed_ns, self.gate, self.probability = state["confirmed_ns"], state["gate"], _nan(state["probability"])
        self.verifier_ts, self.verifier_p = state["verifier_ts"], _nan(state["verifier_p"])


class QualityFlagEvaluator(Evaluator):
    """Technical: the latest record of any watched signal carries one of the flags, for ``delay_s``."""

    rule: QualityFlagRule

    def __init__(self, rule: QualityFlagRule, patient_ref: str) -> None:
        super().__init__(rule, patient_ref)
        self.flagged: dict[str, list[str]] = {}

    def observe(self, record: Any) -> bool:
        if not isinstance(record, (NumericObservation, WaveformChunk)):
            return False
        if self.rule.signals and record.signal not in self.rule.signals:
            return False
        hit = sorted(set(record.quality) & set(self.rule.flags))
        if hit:
            self.flagged[record.signal] = hit
        else:
            self.flagged.pop(record.signal, None)
        slot = PRIORITIES.index(self.rule.priority)
        on = [p == slot and bool(self.flagged) for p in range(3)]
        ts = record.timestamp_ns if isinstance(record, NumericObservation) else record.start_ns
        self._track(ts, on, on, self.rule.delay_s)
        return True

    def status(self) -> RuleStatus:
        st = super().status()
        st.fields["input"] = ", ".join(f"{sig} {'/'.join(f)}" for sig, f in sorted(self.flagged.items()))
        st.values["signals_flagged"] = float(len(self.flagged))
        st.thresholds["delay_s"] = self.rule.delay_s
        return st

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "flagged": self.flagged}

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.flagged = {k: list(v) for k, v in state["flagged"].items()}


class NoDataEvaluator(Evaluator):
    """Technical: nothing of the signal (numerics or waveforms) or feature for more than ``timeout_s``
    of event time since its last record (the alarm's onset is that record's time + ``timeout_s``);
    silent until the input has been seen once. Choose ``timeout_s`` well above the input's interval."""

    rule: NoDataRule

    def __init__(self, rule: NoDataRule, patient_ref: str) -> None:
        super().__init__(rule, patient_ref)
        self.last_seen: int | None = None

    def observe(self, record: Any) -> bool:
        r = self.rule
        if isinstance(record, (NumericObservation, WaveformChunk)) and record.signal == r.signal:
            ts = record.timestamp_ns if isinstance(record, NumericObservation) else record.end_ns
        elif isinstance(record, Features) and r.feature is not None and r.feature in record.values:
            ts = record.timestamp_ns
        else:
            return False
        self.last_seen = ts if self.last_seen is None else max(self.last_seen, ts)
        if self.rank >= 0:
            self.since = [None, None, None]
            self._set_rank(-1, ts)
        return True

    def advance(self, now_ns: int) -> bool:
        timeout = round(self.rule.timeout_s * _S)
        if self.last_seen is None or self.rank >= 0 or now_ns - self.last_seen <= timeout:
            return False
        self.since[PRIORITIES.index(self.rule.priority)] = self.last_seen
        self._set_rank(PRIORITIES.index(self.rule.priority), self.last_seen + timeout)
        return True

    def reset(self, ts: int) -> None:
        super().reset(ts)
        self.last_seen = None

    def status(self) -> RuleStatus:
        st = super().status()
        st.thresholds["timeout_s"] = self.rule.timeout_s
        st.fields.update(limit=self.rule.timeout_s, unit=_unit(self.rule))
        return st

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "last_seen": self.last_seen}

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.last_seen = state["last_seen"]


_EVALUATORS: dict[type, type[Evaluator]] = {
    ThresholdRule: ThresholdEvaluator, IntegralRule: IntegralEvaluator, News2Rule: News2Evaluator,
    QualityFlagRule: QualityFlagEvaluator, NoDataRule: NoDataEvaluator,
}


def make_evaluator(rule: Any, patient_ref: str, verifiers: Mapping[str, Verifier] | None = None) -> Evaluator:
    """The evaluator for one rule of one patient (``verifiers``: hooks by name, for arrhythmia gates)."""
    if isinstance(rule, ArrhythmiaRule):
        return ArrhythmiaEvaluator(rule, patient_ref, verifiers or {})
    return _EVALUATORS[type(rule)](rule, patient_ref)
