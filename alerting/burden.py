"""Alarm burden: recorded or scripted data through the real alarm rules, offline and in event time.

:class:`BurdenSimulator` runs the records of a source through the same pure cores as the live
agents — :class:`~wardwatch.models.scoring.PatientScorer` (numerics and charted events → NEWS2 and
trend features), :class:`~wardwatch.models.waveform_features.WaveformAnalyzer` (waveform chunks →
ECG/PPG/respiration/motion features) and one :class:`~wardwatch.alerting.engine.PatientAlarmEngine`
per patient *and per rule set* — and ticks every patient every ``tick_s`` of event time, as the
alert agent's clock does. Like the live alert agent, an engine reads numerics, features and
charted events; waveform chunks reach it only through the features derived from them. Nobody
acknowledges, so an alarm lasts until its condition clears.

:func:`summarize` turns the alarms of one rule set into a :class:`BurdenSummary`: alarms per
patient-day by kind and priority, the top rules and, where the source has ground truth (scenario
labels), which labelled events were caught, how late, and how many alarms fell outside every label.
:data:`CATCHES` is the one table of which alarm sources count as catching which label.

>>> from wardwatch.alerting.config import load_config
>>> from wardwatch.streams.records import NumericObservation
>>> sim = BurdenSimulator({"default": load_config()}, tick_s=5.0)
>>> t0, ref = 1_790_000_000_000_000_000, "p-0123456789abcdef0123"
>>> for k in range(120):
...     sim.feed([NumericObservation(patient_ref=ref, ward="w", bed="01", device_id="m", signal="MDC_PULS_OXIM_SAT_O2",
...                                  unit="%", timestamp_ns=t0 + k * 10**9, value=97.0 if k < 30 or k > 90 else 84.0)])
>>> sim.finish(t0 + 120 * 10**9)
>>> [(a.source, a.priority, (a.onset_ns - t0) // 10**9) for a in sim.alarms["default"]]
[('spo2.low', 'high', 39), ('news2', 'low', 70)]
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from wardwatch.alerting.config import PRIORITIES, AlarmConfig
from wardwatch.alerting.engine import PatientAlarmEngine
from wardwatch.errors import ConfigurationError, SchemaValidationError
from wardwatch.models.scoring import PatientScorer, ScoringConfig
from wardwatch.models.waveform_features import ACCEL_SIGNALS, MotionAnalyzer, WaveformAnalyzer, analyzable
from wardwatch.streams.records import Alert, ChartedEvent, Features, NumericObservation, Record, WaveformChunk
from wardwatch.streams.scenarios.model import Label, ScenarioSpec, WardPlan, resolve_plan, scenario_catalog
from wardwatch.streams.scenarios.runner import ScenarioRunner

__all__ = ["CATCHES", "ARTEFACT_LABELS", "START_NS", "AlarmRecord", "Source", "BurdenSimulator", "LabelOutcome",
           "BurdenSummary", "summarize", "scenario_source", "wfdb_source", "open_source", "run_burden"]

logger = logging.getLogger(__name__)

_S = 1_000_000_000
#: Where simulated runs start (2026-09-21T..Z): fixed, so the same source gives the same alarm ids.
START_NS = 1_790_000_000_000_000_000

#: Ground-truth label → the alarm sources (rule or group ids) whose alarm catches it. An alarm
#: catches a label when its onset falls within [label onset, label end + grace].
CATCHES: dict[str, tuple[str, ...]] = {
    "desaturation": ("spo2.low",),
    "bradycardia": ("hr.low", "arrhythmia.brady_extreme"),
    "sepsis_deterioration": ("news2", "detector.deterioration", "hr.high", "rr.high", "rr.low", "spo2.low", "sbp.low"),
    "atrial_fibrillation": ("arrhythmia.af", "hr.high"),
    "ventricular_tachycardia": ("arrhythmia.vt", "arrhythmia.tachy_extreme", "hr.high"),
    "asystole": ("arrhythmia.asystole", "hr.low"),
    "lead_off": ("ecg.lead_off", "nodata.hr"),
    "probe_off": ("spo2.probe_off", "nodata.spo2"),
    "sensor_dropout": ("nodata.hr", "nodata.spo2", "nodata.rr"),
    "battery_low": ("battery.low",),
    "motion_artefact": (),
}
#: Labels during which every alarm is false by construction (artefact, no physiological change).
ARTEFACT_LABELS: frozenset[str] = frozenset({"motion_artefact"})


@dataclass
class AlarmRecord:
    """One alarm (one alert id) as a rule set raised it: its highest priority, onset and end."""

    alert_id: str
    patient_ref: str
    bed: str
    source: str
    kind: str
    priority: str
    first_priority: str
    onset_ns: int
    resolved_ns: int | None = None

    def take(self, alert: Alert) -> None:
        if PRIORITIES.index(alert.priority) > PRIORITIES.index(self.priority):  # type: ignore[arg-type]
            self.priority = alert.priority
        if alert.state == "resolved":
            self.resolved_ns = alert.updated_ns


@dataclass
class Source:
    """What to run: time-ordered batches of records, the patients' monitored time, the ground truth.

    ``labels`` is ``None`` when the source has no ground truth (a recording), a list (maybe empty:
    stable beds) when it has.
    """

    name: str
    kind: str
    batches: Iterable[list[Record]]
    monitored_s: dict[str, float]
    beds: dict[str, str]
    end_ns: int
    labels: list[Label] | None = None
    waveforms: bool = False
    detail: str = ""


class _Patient:
    def __init__(self, ref: str, ward: str, bed: str, configs: Mapping[str, AlarmConfig], scoring: ScoringConfig) -> None:
        self.scorer = PatientScorer(ref, ward, bed, scoring)
        self.engines = {name: PatientAlarmEngine(ref, ward, bed, cfg) for name, cfg in configs.items()}
        self.analyzers: dict[str, WaveformAnalyzer] = {}
        self.motion = MotionAnalyzer()
        self.next_tick_ns: int | None = None


class BurdenSimulator:
    """Feed records of any number of patients, in event-time order per patient; collect the alarms.

    Parameters
    ----------
    configs : mapping of str to AlarmConfig
        The rule sets to compare, by name; each patient gets one engine per rule set.
    scoring : ScoringConfig, optional
        NEWS2 windows and cadence (the score agent's settings).
    tick_s : float
        Event-time seconds between two ticks of a patient (the alarm clock, ``WARDWATCH_ALERT_TICK_S``).
    waveforms : bool
        Analyze waveform chunks into features (``False``: drop them, numerics only).
    """

    def __init__(self, configs: Mapping[str, AlarmConfig], *, scoring: ScoringConfig | None = None, tick_s: float = 2.0,
                 waveforms: bool = True) -> None:
        if not configs:
            raise ConfigurationError("rules", "give at least one rule set")
        if not tick_s > 0:
            raise ConfigurationError("tick_s", f"{tick_s} must be positive")
        self.configs = dict(configs)
        self.scoring = scoring or ScoringConfig()
        self.tick_ns = round(tick_s * _S)
        self.waveforms = waveforms
        self.patients: dict[str, _Patient] = {}
        self.alarms: dict[str, list[AlarmRecord]] = {name: [] for name in self.configs}
        self._by_id: dict[str, dict[str, AlarmRecord]] = {name: {} for name in self.configs}
        self.records = 0

    def _patient(self, record: Any) -> _Patient:
        p = self.patients.get(record.patient_ref)
        if p is None:
            p = self.patients[record.patient_ref] = _Patient(record.patient_ref, record.ward, record.bed, self.configs, self.scoring)
        return p

    def feed(self, records: Iterable[Record]) -> None:
        """Take one batch of records (numerics, waveform chunks, charted events; others are ignored)."""
        for record in records:
            if isinstance(record, NumericObservation):
                ts = record.timestamp_ns
            elif isinstance(record, ChartedEvent):
                ts = record.timestamp_ns
            elif isinstance(record, WaveformChunk):
                if not self.waveforms:
                    continue
                ts = record.start_ns
            else:
                continue
            self.records += 1
            p = self._patient(record)
            self._tick_until(p, ts)
            for item in self._derive(p, record):
                for name, engine in p.engines.items():
                    self._collect(name, engine.process(item).alerts)

    def _derive(self, p: _Patient, record: Record) -> list[Any]:
        """What the engine reads, as the live agents send it: the record itself, then its features."""
        if isinstance(record, WaveformChunk):
            if not analyzable(record.signal):
                return []
            if record.signal in ACCEL_SIGNALS:
                return list(p.motion.process(record))
            analyzer = p.analyzers.get(record.signal)
            if analyzer is None:
                analyzer = p.analyzers[record.signal] = WaveformAnalyzer(record.signal, record.fs_hz)
            return list(analyzer.process(record))
        assert isinstance(record, (NumericObservation, ChartedEvent))
        derived: list[Features] = p.scorer.observe(record) if p.scorer.accepts(record) else []
        return [record, *derived]

    def _tick_until(self, p: _Patient, ts: int) -> None:
        if p.next_tick_ns is None:
            p.next_tick_ns = (ts // self.tick_ns + 1) * self.tick_ns
        while p.next_tick_ns < ts:
            for name, engine in p.engines.items():
                self._collect(name, engine.tick(p.next_tick_ns).alerts)
            p.next_tick_ns += self.tick_ns

    def _collect(self, name: str, alerts: list[Alert]) -> None:
        known = self._by_id[name]
        for alert in alerts:
            rec = known.get(alert.alert_id)
            if rec is None:
                rec = known[alert.alert_id] = AlarmRecord(alert.alert_id, alert.patient_ref, alert.bed, alert.source, alert.kind,
                                                          alert.priority, alert.priority, alert.onset_ns)
                self.alarms[name].append(rec)
            rec.take(alert)

    def finish(self, end_ns: int) -> None:
        """Tick every patient up to ``end_ns`` (the end of the run)."""
        for p in self.patients.values():
            self._tick_until(p, end_ns + 1)


# --- summaries ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelOutcome:
    """One labelled event: the earliest alarm of a relevant source that caught it, and its delay."""

    label: Label
    caught_by: str | None
    delay_s: float  # alarm onset - label onset; NaN when missed
    relevant: tuple[str, ...]


@dataclass
class BurdenSummary:
    """Alarm burden of one rule set on one source."""

    rule_set: str
    source: str
    patients: int
    patient_days: float
    alarms: int
    by_kind_priority: dict[str, dict[str, int]]
    by_rule: list[tuple[str, int]]
    labelled: bool
    outcomes: list[LabelOutcome] = field(default_factory=list)
    outside_labels: int = 0
    in_artefact: int = 0
    other_in_label: int = 0
    repeats: int = 0

    def per_day(self, n: float) -> float:
        return n / self.patient_days if self.patient_days > 0 else math.nan

    @property
    def caught(self) -> int:
        return sum(o.caught_by is not None for o in self.outcomes)

    @property
    def delays_s(self) -> list[float]:
        return [o.delay_s for o in self.outcomes if o.caught_by is not None]

    @property
    def median_delay_s(self) -> float:
        d = self.delays_s
        return statistics.median(d) if d else math.nan

    @property
    def max_delay_s(self) -> float:
        d = self.delays_s
        return max(d) if d else math.nan

    @property
    def false_by_construction(self) -> int:
        """Alarms outside every label plus those during artefact labels."""
        return self.outside_labels + self.in_artefact

    def to_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 3)

        return {
            "rule_set": self.rule_set, "source": self.source, "patients": self.patients, "patient_days": round(self.patient_days, 4),
            "alarms": self.alarms, "alarms_per_patient_day": num(self.per_day(self.alarms)),
            "by_kind_priority": self.by_kind_priority,
            "by_kind_priority_per_patient_day": {k: {p: num(self.per_day(n)) for p, n in v.items()} for k, v in self.by_kind_priority.items()},
            "top_rules": [[r, n] for r, n in self.by_rule],
            "ground_truth": self.labelled,
            "labels": [{"bed": o.label.bed, "label": o.label.label, "scenario": o.label.scenario,
                        "duration_s": (o.label.end_ns - o.label.onset_ns) / _S, "caught_by": o.caught_by,
                        "delay_s": num(o.delay_s), "relevant": list(o.relevant)} for o in self.outcomes],
            "caught": self.caught, "label_count": len(self.outcomes),
            "median_delay_s": num(self.median_delay_s), "max_delay_s": num(self.max_delay_s),
            "outside_labels": self.outside_labels if self.labelled else None,
            "in_artefact_labels": self.in_artefact if self.labelled else None,
            "other_in_label": self.other_in_label if self.labelled else None,
            "repeats": self.repeats if self.labelled else None,
        }


def _window(label: Label, grace_ns: int) -> tuple[int, int]:
    return label.onset_ns, label.end_ns + grace_ns


def summarize(rule_set: str, alarms: list[AlarmRecord], source: Source, *, grace_s: float = 120.0,
              catches: Mapping[str, tuple[str, ...]] = CATCHES) -> BurdenSummary:
    """Count ``alarms`` (of one rule set on ``source``) and match them against the source's labels.

    A label is caught by the earliest alarm of the same patient whose source is in
    ``catches[label]`` and whose onset lies in [label onset, label end + ``grace_s``]. Every alarm
    is then one of: the catch of a label; a *repeat* (another alarm of a relevant source in a
    label already caught: the same event alarming again); in an artefact label (false); in a label
    but of an unrelated rule; outside every label (false or non-actionable by construction).
    """
    grace_ns = round(grace_s * _S)
    by_kind: dict[str, dict[str, int]] = {k: dict.fromkeys(reversed(PRIORITIES), 0) for k in ("physiological", "technical")}
    for a in alarms:
        by_kind[a.kind][a.priority] += 1
    by_rule = Counter(a.source for a in alarms).most_common()
    summary = BurdenSummary(rule_set, source.name, len(source.monitored_s), sum(source.monitored_s.values()) / 86_400.0,
                            len(alarms), by_kind, by_rule, source.labels is not None)
    if source.labels is None:
        return summary
    mine: dict[str, list[AlarmRecord]] = {}
    for a in sorted(alarms, key=lambda a: a.onset_ns):
        mine.setdefault(a.patient_ref, []).append(a)
    catch_ids: set[str] = set()
    for label in source.labels:
        relevant = tuple(catches.get(label.label, ()))
        lo, hi = _window(label, grace_ns)
        hit = next((a for a in mine.get(label.patient_ref, []) if a.source in relevant and lo <= a.onset_ns <= hi), None)
        summary.outcomes.append(LabelOutcome(label, hit.source if hit else None,
                                             (hit.onset_ns - label.onset_ns) / _S if hit else math.nan, relevant))
        if hit is not None:
            catch_ids.add(hit.alert_id)
    for a in alarms:
        windows = [lab for lab in source.labels if lab.patient_ref == a.patient_ref
                   and _window(lab, grace_ns)[0] <= a.onset_ns <= _window(lab, grace_ns)[1]]
        if any(a.source in catches.get(lab.label, ()) for lab in windows):
            summary.repeats += a.alert_id not in catch_ids
            continue
        if not windows:
            summary.outside_labels += 1
        elif any(lab.label in ARTEFACT_LABELS for lab in windows):
            summary.in_artefact += 1
        else:
            summary.other_in_label += 1
    return summary


# --- sources ---------------------------------------------------------------------------------------

def _scenario_batches(runner: ScenarioRunner, seconds: int) -> Iterator[list[Record]]:
    yield list(runner.admission_events())
    while runner.second < seconds:
        yield runner.step()


def scenario_source(plan: WardPlan, secret: bytes, *, name: str | None = None, seed: int | None = None, waveforms: bool = True,
                    duration_s: float | None = None, start_ns: int = START_NS,
                    catalog: dict[str, ScenarioSpec] | None = None) -> Source:
    """A scripted ward (:class:`~wardwatch.streams.scenarios.ScenarioRunner`) with its labels."""
    if seed is not None:
        plan = msgspec.structs.replace(plan, seed=seed)
    runner = ScenarioRunner(plan, secret, start_ns, catalog, waveforms=waveforms)
    run_s = float(plan.duration_s if duration_s is None else duration_s)
    seconds = math.ceil(run_s)
    refs = runner.patients
    return Source(name=name or plan.name, kind="scenario", batches=_scenario_batches(runner, seconds),
                  monitored_s=dict.fromkeys(refs.values(), float(seconds)), beds={r: b for b, r in refs.items()},
                  end_ns=start_ns + seconds * _S, labels=runner.labels(run_s), waveforms=runner.waveforms,
                  detail=f"{len(refs)} bed{'s' if len(refs) != 1 else ''}, {seconds} s, seed {plan.seed}")


def wfdb_source(record: str, secret: bytes, *, waveforms: bool = True, start_ns: int = START_NS, bed: str = "replay",
                duration_s: float | None = None) -> Source:
    """A WFDB recording (numerics or waveforms) from the data folder; no ground truth."""
    from wardwatch.streams.adapters.wfdb_replay import WfdbReplay

    src = WfdbReplay.open(record, patient_secret=secret, start_ns=start_ns, bed=bed, duration_s=duration_s)
    length_s = src.record.d_signal.shape[0] / src.fs_hz
    batches = (batch for _, batch in src.batches())
    return Source(name=str(record), kind=f"wfdb {src.kind}", batches=batches, monitored_s={src.patient_ref: length_s},
                  beds={src.patient_ref: bed}, end_ns=start_ns + round(length_s * _S), labels=None,
                  waveforms=waveforms and src.kind == "waveform", detail=f"{length_s / 3600:.1f} h, {len(src.channels)} channels")


def open_source(target: str, secret: bytes, *, seed: int | None = None, waveforms: bool = True,
                duration_s: float | None = None, catalog: dict[str, ScenarioSpec] | None = None) -> Source:
    """A scenario name (``sepsis``), a ward file (``demo-ward``) or a WFDB record under the data folder."""
    catalog = scenario_catalog() if catalog is None else catalog
    try:
        plan = resolve_plan(target, catalog)
    except ConfigurationError as not_scenario:
        try:
            return wfdb_source(target, secret, waveforms=waveforms, duration_s=duration_s)
        except (SchemaValidationError, ConfigurationError) as exc:
            reason = exc.reason if isinstance(exc, SchemaValidationError) else exc.problem
            raise ConfigurationError(target, "is neither a scenario name, a ward file nor a WFDB record",
                                     f"scenarios: {', '.join(sorted(catalog))}; WFDB: {reason}") from not_scenario
    return scenario_source(plan, secret, name=target, seed=seed, waveforms=waveforms, duration_s=duration_s, catalog=catalog)


def run_burden(source: Source, configs: Mapping[str, AlarmConfig], *, scoring: ScoringConfig | None = None, tick_s: float = 2.0,
               grace_s: float = 120.0) -> dict[str, BurdenSummary]:
    """Run ``source`` through every rule set; one summary per rule set."""
    sim = BurdenSimulator(configs, scoring=scoring, tick_s=tick_s, waveforms=source.waveforms)
    for batch in source.batches:
        sim.feed(batch)
    sim.finish(source.end_ns)
    logger.info("burden run: %d patients, %d records, %s", len(sim.patients), sim.records,
                ", ".join(f"{name} {len(a)} alarms" for name, a in sim.alarms.items()))
    return {name: summarize(name, sim.alarms[name], source, grace_s=grace_s) for name in configs}
