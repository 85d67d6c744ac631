"""Scripted ward scenarios with waveforms and ground-truth labels.

A ward file (TOML or JSON) lists beds with baselines and events; scenario files define the events
(sepsis, desaturation, new AF, bradycardia, VT run, asystole, motion artefact, lead/probe off,
dropout, battery low). :class:`ScenarioRunner` turns a ward into canonical records second by
second; :func:`run_scenario` sends them to Kafka and writes the labels. See ``docs/scenarios.md``.
"""

from wardwatch.streams.scenarios.model import (
    DATA_DIR,
    Label,
    ScenarioSpec,
    WardPlan,
    demo_ward,
    load_scenario,
    load_ward,
    resolve_plan,
    scenario_catalog,
    ward_files,
)
from wardwatch.streams.scenarios.runner import RunSummary, ScenarioRunner, run_scenario, write_labels

__all__ = [
    "DATA_DIR",
    "Label",
    "ScenarioSpec",
    "WardPlan",
    "demo_ward",
    "load_scenario",
    "load_ward",
    "scenario_catalog",
    "resolve_plan",
    "ward_files",
    "ScenarioRunner",
    "RunSummary",
    "run_scenario",
    "write_labels",
]
