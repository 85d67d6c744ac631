"""What a bed's scripted events do at each moment: vital-sign changes, rhythm, faults, battery.

A :class:`Timeline` compiles a bed's events (scenario defaults overridden by the event's
parameters) and answers :meth:`Timeline.at` for any time after the run's start. Effects compose:
trend changes add up; the latest-starting active rhythm wins; faults are a set.

>>> from wardwatch.streams.scenarios.model import EventPlan, scenario_catalog
>>> catalog = scenario_catalog()
>>> tl = Timeline([EventPlan(scenario="acute-desaturation", onset_s=100)], catalog)
>>> tl.at(50).deltas["spo2_pct"], tl.at(145).deltas["spo2_pct"]  # half way down a 90 s ramp of -14
(0.0, -7.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wardwatch.streams.scenarios.model import VITALS, EventPlan, Param, ScenarioSpec, event_window

__all__ = ["Timeline", "Effects"]

_RHYTHMS = ("sinus", "af", "vt", "asystole")
_FAULTS = ("lead_off", "probe_off", "dropout", "motion", "battery_low")


@dataclass
class Effects:
    """Everything scripted that holds for one bed at one time."""

    deltas: dict[str, float] = field(default_factory=lambda: dict.fromkeys(VITALS, 0.0))
    rhythm: str = "sinus"
    rate_bpm: float | None = None  # None: the patient's own heart rate
    irregularity: float = 0.18
    faults: set[str] = field(default_factory=set)
    motion_severity: float = 0.0
    battery_pct: float | None = None  # None: the bed's baseline charge


@dataclass(frozen=True)
class _Active:
    spec: ScenarioSpec
    onset_s: float
    end_s: float
    params: dict[str, Param]

    def num(self, name: str, default: float) -> float:
        value = self.params.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"scenario {self.spec.name}: parameter {name} must be a number, not {value!r}")
        return float(value)

    def text(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.params.get(name)
        if value not in allowed:
            raise ValueError(f"scenario {self.spec.name}: parameter {name} must be one of {allowed}, not {value!r}")
        return str(value)


class Timeline:
    """The compiled events of one bed."""

    def __init__(self, events: list[EventPlan], catalog: dict[str, ScenarioSpec]) -> None:
        self.events: list[_Active] = []
        for event in events:
            spec = catalog[event.scenario]
            onset, end = event_window(event, spec)
            active = _Active(spec, onset, end, {**spec.params, **event.params})
            # Fail on a bad parameter when the ward loads, not an hour into the run.
            if spec.kind == "rhythm":
                active.text("rhythm", _RHYTHMS)
            elif spec.kind == "fault":
                active.text("fault", _FAULTS)
            for vital in VITALS:
                active.num(vital, 0.0)
            self.events.append(active)
        self.events.sort(key=lambda a: a.onset_s)

    def at(self, t_s: float) -> Effects:
        """The effects at ``t_s`` seconds after the run's start."""
        fx = Effects()
        for ev in self.events:
            if t_s < ev.onset_s:
                continue
            if ev.spec.kind == "trend":
                scale = self._trend_scale(ev, t_s)
                if scale > 0:
                    for vital in VITALS:
                        fx.deltas[vital] += scale * ev.num(vital, 0.0)
                continue
            if t_s >= ev.end_s:
                continue
            if ev.spec.kind == "rhythm":
                fx.rhythm = ev.text("rhythm", _RHYTHMS)
                fx.rate_bpm = ev.num("rate_bpm", 0.0) or None
                fx.irregularity = ev.num("irregularity", 0.18)
                for vital in VITALS:
                    fx.deltas[vital] += ev.num(vital, 0.0)
            else:
                fault = ev.text("fault", _FAULTS)
                fx.faults.add(fault)
                if fault == "motion":
                    fx.motion_severity = max(fx.motion_severity, ev.num("severity", 1.0))
                elif fault == "battery_low":
                    fx.battery_pct = ev.num("battery_pct", 12.0)
        return fx

    @staticmethod
    def _trend_scale(ev: _Active, t_s: float) -> float:
        duration = ev.end_s - ev.onset_s
        ramp = ev.num("ramp_s", duration) or 1e-9
        at_end = min(1.0, duration / ramp)
        if t_s < ev.end_s:
            return min(1.0, (t_s - ev.onset_s) / ramp)
        recovery = ev.num("recovery_s", 0.0)
        if recovery <= 0:
            return 0.0
        return max(0.0, at_end * (1.0 - (t_s - ev.end_s) / recovery))
