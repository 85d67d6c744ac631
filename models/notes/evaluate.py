"""Offline evaluation: alarms from scenarios and recordings, their facts, and notes written for them.

:func:`collect_alarms` runs sources through the alarm engine in process (as
:mod:`wardwatch.alerting.burden` does) and, like the note agent, keeps a :class:`NoteContext` per
patient fed by the same features and alerts; every alert the agent would write a note for (state
``active``: raised or worsened, once per id and priority) is returned with its facts as they stood.
:func:`evaluate` writes a note for each and counts what the verifier did.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wardwatch.alerting.burden import BurdenSimulator, open_source
from wardwatch.alerting.config import load_config
from wardwatch.models.notes.facts import Fact, NoteContext, build_facts
from wardwatch.models.notes.summarizer import NoteWriter
from wardwatch.streams.records import Alert, AlertNote, Features

__all__ = ["EvalAlarm", "EvalResult", "collect_alarms", "evaluate", "DEFAULT_SOURCES", "percentile"]

logger = logging.getLogger(__name__)

#: Scenarios (several seeds) and a real MIMIC-II numerics recording.
DEFAULT_SOURCES: tuple[str, ...] = (
    "sepsis", "acute-desaturation", "bradycardia", "probe-off", "lead-off", "sensor-dropout", "battery-low",
    "motion-artefact", "new-af", "vt-run", "asystole", "demo-ward", "mimic-mitdb/s00001-2896-10-10-00-31n",
)


@dataclass
class EvalAlarm:
    source: str
    alert: Alert
    facts: list[Fact]


class _Collector(BurdenSimulator):
    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__({"default": load_config()}, **kwargs)
        self.name = name
        self.contexts: dict[str, NoteContext] = {}
        self.found: list[EvalAlarm] = []

    def _derive(self, p: Any, record: Any) -> list[Any]:
        items = super()._derive(p, record)
        for item in items:
            if isinstance(item, Features):
                self.contexts.setdefault(item.patient_ref, NoteContext()).observe(item)
        return items

    def _collect(self, name: str, alerts: list[Alert]) -> None:
        for alert in alerts:
            ctx = self.contexts.setdefault(alert.patient_ref, NoteContext())
            if alert.state == "active" and ctx.first_note(alert):
                self.found.append(EvalAlarm(self.name, alert, build_facts(alert, ctx)))
            ctx.observe(alert)
        super()._collect(name, alerts)


def collect_alarms(sources: Iterable[str], secret: bytes, *, seeds: Iterable[int] = (42,), waveforms: bool = False,
                   duration_s: float | None = None) -> list[EvalAlarm]:
    """The alarms (with facts) of every source, each scenario once per seed."""
    out: list[EvalAlarm] = []
    for target in sources:
        for seed in (seeds if "/" not in target else (None,)):
            src = open_source(target, secret, seed=seed, waveforms=waveforms, duration_s=duration_s)
            sim = _Collector(f"{target}" + (f"#{seed}" if seed is not None else ""), waveforms=src.waveforms)
            for batch in src.batches:
                sim.feed(batch)
            sim.finish(src.end_ns)
            logger.info("%s: %d alarms to note", sim.name, len(sim.found))
            out += sim.found
    return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class EvalResult:
    backend: str
    notes: list[tuple[EvalAlarm, AlertNote]] = field(default_factory=list)
    rss_mb: float = math.nan
    load_s: float = 0.0

    @property
    def model_notes(self) -> list[AlertNote]:
        return [n for _, n in self.notes]

    @property
    def accepted(self) -> int:
        return sum(1 for n in self.model_notes if n.verified and n.backend == self.backend)

    @property
    def acceptance(self) -> float:
        return self.accepted / len(self.notes) if self.notes else math.nan

    def latency(self, q: float) -> float:
        return percentile([n.latency_ms for n in self.model_notes], q)

    def reasons(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for n in self.model_notes:
            if n.rejection:
                key = n.rejection.split(":", 1)[-1].strip()
                key = " ".join(w if not any(c.isdigit() for c in w) else "N" for w in key.split())[:70]
                counts[key] = counts.get(key, 0) + 1
        return sorted(counts.items(), key=lambda p: -p[1])

    def summary(self) -> dict[str, Any]:
        lat = [n.latency_ms for n in self.model_notes]
        return {"backend": self.backend, "alarms": len(self.notes), "accepted": self.accepted,
                "acceptance": self.acceptance, "latency_p50_ms": self.latency(50), "latency_p95_ms": self.latency(95),
                "latency_mean_ms": statistics.fmean(lat) if lat else math.nan, "rss_mb": self.rss_mb, "load_s": self.load_s}


def evaluate(alarms: list[EvalAlarm], writer: NoteWriter) -> EvalResult:
    """Write a note for every alarm with ``writer`` (one at a time: latency as one request sees it)."""
    start = time.perf_counter()
    writer.backend.load()
    result = EvalResult(writer.backend.name, load_s=time.perf_counter() - start)

    async def run() -> None:
        for alarm in alarms:
            note = await writer.write(alarm.alert, alarm.facts)
            result.notes.append((alarm, note))

    asyncio.run(run())
    result.rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return result
