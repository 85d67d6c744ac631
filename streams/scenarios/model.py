"""Scenario and ward files: what they hold, how they load, and the ground-truth labels they imply.

Two kinds of data files (TOML, or JSON with the same structure):

* a **scenario file** (``data/scenarios/*.toml``) names one clinical or technical event: its
  ground-truth label, the effect kind the simulator implements (``trend``, ``rhythm``, ``fault``),
  default parameters and duration, and a ``[demo]`` table used when it is run on its own;
* a **ward file** (``data/*.toml``) lists beds, each with a patient identifier, an optional
  baseline and a list of events (scenario name, onset offset, duration, parameter overrides).

>>> ward = load_ward(DATA_DIR / "demo-ward.toml")
>>> len(ward.beds), ward.beds[1].events[0].scenario
(8, 'new-af')
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import msgspec

from wardwatch.errors import ConfigurationError

__all__ = ["ScenarioSpec", "Baseline", "EventPlan", "BedPlan", "WardPlan", "Label", "DATA_DIR", "load_scenario",
           "load_ward", "scenario_catalog", "demo_ward", "labels_for", "resolve_plan", "ward_files", "PARAMS", "VITALS"]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"

Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Seconds = Annotated[float, msgspec.Meta(ge=0)]
Param = Union[float, str, bool]

#: The vital signs a scenario may move, with their units in the name.
VITALS = ("hr_bpm", "spo2_pct", "rr_per_min", "sbp_mmhg", "dbp_mmhg", "temp_c")

#: Parameters each effect kind understands (the vitals' names are changes at full effect).
PARAMS: dict[str, dict[str, str]] = {
    "trend": {**{v: "change at full effect" for v in VITALS},
              "ramp_s": "seconds from onset to full effect (default: the whole duration)",
              "recovery_s": "seconds back to baseline after the end (default 0: at once)"},
    "rhythm": {"rhythm": "sinus, af, vt or asystole", "rate_bpm": "ventricular rate (default: the patient's)",
               "irregularity": "AF: coefficient of variation of RR intervals (default 0.18)",
               **{v: "change while the rhythm lasts" for v in VITALS}},
    "fault": {"fault": "lead_off, probe_off, dropout, motion or battery_low",
              "severity": "motion: artefact amplitude, multiples of the clean signal (default 1)",
              "battery_pct": "battery_low: the charge reported (default 12)"},
}


class Demo(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    onset_s: Seconds = 60.0
    run_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    wearable: bool = False


class ScenarioSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One event kind with its label and defaults (``[scenario]`` of a scenario file)."""

    name: Name
    label: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,64}$")]
    kind: Literal["trend", "rhythm", "fault"]
    description: str
    duration_s: Annotated[float, msgspec.Meta(gt=0)]
    params: dict[str, Param] = {}
    demo: Demo = Demo()


class Baseline(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A patient's resting values; a missing one is drawn from the ward's seed."""

    hr_bpm: Union[Annotated[float, msgspec.Meta(ge=30, le=150)], None] = None
    spo2_pct: Union[Annotated[float, msgspec.Meta(ge=80, le=100)], None] = None
    rr_per_min: Union[Annotated[float, msgspec.Meta(ge=6, le=40)], None] = None
    sbp_mmhg: Union[Annotated[float, msgspec.Meta(ge=70, le=220)], None] = None
    dbp_mmhg: Union[Annotated[float, msgspec.Meta(ge=35, le=130)], None] = None
    temp_c: Union[Annotated[float, msgspec.Meta(ge=34, le=40)], None] = None
    battery_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] = 85.0


class EventPlan(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One scenario happening to one bed: onset after the run's start, duration, overrides."""

    scenario: Name
    onset_s: Seconds
    duration_s: Union[Annotated[float, msgspec.Meta(gt=0)], None] = None
    params: dict[str, Param] = {}


class BedPlan(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    bed: Ident
    patient: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]  # identifier; pseudonymized
    device: Union[Ident, None] = None
    wearable: bool = False  # also an accelerometer and skin temperature (a wearable patch)
    oxygen: bool = False  # on supplemental oxygen at the start
    baseline: Baseline = Baseline()
    events: list[EventPlan] = []


class WardPlan(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A ward file: ``[ward]`` settings and ``[[beds]]``."""

    name: Ident
    description: str = ""
    seed: Annotated[int, msgspec.Meta(ge=0)] = 42
    duration_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    nibp_every_s: Annotated[float, msgspec.Meta(ge=1)] = 300.0
    temp_every_s: Annotated[float, msgspec.Meta(ge=1)] = 600.0
    waveforms: bool = True
    beds: Annotated[list[BedPlan], msgspec.Meta(min_length=1)]


class _ScenarioFile(msgspec.Struct, forbid_unknown_fields=True):
    scenario: ScenarioSpec


class _WardFile(msgspec.Struct, forbid_unknown_fields=True):
    ward: dict[str, Any]
    beds: list[dict[str, Any]]


T = TypeVar("T")


def _read(path: Path) -> Any:
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigurationError(str(path), "no such file") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(str(path), f"not valid {path.suffix[1:].upper()}: {exc}") from None


def _convert(data: Any, type_: type[T], path: Path) -> T:
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(str(path), str(exc).replace("`$.", "`")) from None


def _check_params(kind: str, params: dict[str, Param], where: str) -> None:
    unknown = sorted(set(params) - set(PARAMS[kind]))
    if unknown:
        raise ConfigurationError(where, f"unknown parameter(s) {unknown} for a {kind} scenario", f"known: {sorted(PARAMS[kind])}")


def load_scenario(path: str | Path) -> ScenarioSpec:
    """Read one scenario file."""
    path = Path(path)
    spec = _convert(_read(path), _ScenarioFile, path).scenario
    _check_params(spec.kind, spec.params, str(path))
    return spec


def scenario_catalog(extra: list[Path] | None = None) -> dict[str, ScenarioSpec]:
    """Every built-in scenario (``data/scenarios``) and those in ``extra`` files, by name."""
    files = sorted((DATA_DIR / "scenarios").glob("*.toml")) + list(extra or [])
    catalog: dict[str, ScenarioSpec] = {}
    for file in files:
        spec = load_scenario(file)
        catalog[spec.name] = spec
    return catalog


def load_ward(path: str | Path, catalog: dict[str, ScenarioSpec] | None = None) -> WardPlan:
    """Read a ward file and check that every event names a known scenario with known parameters."""
    path = Path(path)
    raw = _convert(_read(path), _WardFile, path)
    plan = _convert({**raw.ward, "beds": raw.beds}, WardPlan, path)
    catalog = scenario_catalog() if catalog is None else catalog
    beds = [b.bed for b in plan.beds]
    if len(set(beds)) != len(beds):
        raise ConfigurationError(str(path), "two beds have the same label")
    for bed in plan.beds:
        for i, event in enumerate(bed.events):
            spec = catalog.get(event.scenario)
            if spec is None:
                raise ConfigurationError(f"{path}: bed {bed.bed} event {i}", f"no scenario named {event.scenario!r}",
                                         f"known: {', '.join(sorted(catalog))}")
            _check_params(spec.kind, event.params, f"{path}: bed {bed.bed} event {i}")
    return plan


def demo_ward(spec: ScenarioSpec, seed: int = 42) -> WardPlan:
    """A one-bed ward that runs ``spec`` alone, as its ``[demo]`` table says."""
    bed = BedPlan(bed="01", patient=f"SIM-{spec.name.upper()}-0001", wearable=spec.demo.wearable or spec.params.get("fault") == "motion",
                  events=[EventPlan(scenario=spec.name, onset_s=spec.demo.onset_s)])
    return WardPlan(name=f"demo-{spec.name}"[:64], description=spec.description, seed=seed, duration_s=spec.demo.run_s, beds=[bed])


@dataclass(frozen=True)
class Label:
    """Ground truth: this bed had this event from ``onset_ns`` to ``end_ns`` (UTC epoch ns)."""

    ward: str
    bed: str
    patient_ref: str
    label: str
    scenario: str
    onset_ns: int
    end_ns: int

    def to_json(self) -> bytes:
        return msgspec.json.encode(self.__dict__)


def event_window(event: EventPlan, spec: ScenarioSpec) -> tuple[float, float]:
    """Onset and end of an event, in seconds after the run's start."""
    return event.onset_s, event.onset_s + (event.duration_s or spec.duration_s)


def labels_for(plan: WardPlan, catalog: dict[str, ScenarioSpec], refs: dict[str, str], start_ns: int,
               duration_s: float | None = None) -> list[Label]:
    """The ground-truth labels of a run of ``plan`` from ``start_ns`` for ``duration_s`` seconds
    (events starting later are left out; ends are cut at the run's end). ``refs``: bed → patient_ref."""
    run_s = plan.duration_s if duration_s is None else duration_s
    labels = []
    for bed in plan.beds:
        for event in bed.events:
            spec = catalog[event.scenario]
            onset, end = event_window(event, spec)
            if onset >= run_s:
                continue
            labels.append(Label(plan.name, bed.bed, refs[bed.bed], spec.label, spec.name,
                                start_ns + round(onset * 1e9), start_ns + round(min(end, run_s) * 1e9)))
    return sorted(labels, key=lambda lab: (lab.onset_ns, lab.bed))


def resolve_plan(target: str | Path, catalog: dict[str, ScenarioSpec] | None = None) -> WardPlan:
    """A ward plan from a ward file path, a ward file name in :data:`DATA_DIR` (``demo-ward``), a
    scenario name (``new-af``) or a scenario file: the last two run as a one-bed demo ward."""
    catalog = scenario_catalog() if catalog is None else catalog
    text = str(target)
    if text in catalog:
        return demo_ward(catalog[text])
    path = Path(text)
    if not path.exists():
        for candidate in (DATA_DIR / text, DATA_DIR / f"{text}.toml", DATA_DIR / f"{text}.json"):
            if candidate.is_file():
                path = candidate
                break
        else:
            raise ConfigurationError(text, "is neither a ward file nor a scenario name",
                                     f"scenarios: {', '.join(sorted(catalog))}; `wardwatch scenario list` shows the ward files")
    data = _read(path)
    if isinstance(data, dict) and "scenario" in data:
        spec = load_scenario(path)
        return demo_ward(spec)
    return load_ward(path, catalog)


def ward_files() -> list[Path]:
    """The ward files that ship with WardWatch."""
    return sorted(p for p in DATA_DIR.iterdir() if p.suffix in (".toml", ".json") and p.is_file())
