"""Alarm configuration: rules per ward, per-patient or per-bed overrides, escalation ladders.

A ward's alarm configuration is one YAML file (the shipped default is
``alerting/defaults/ward-default.yaml``; ``docs/alarm-rules.md`` explains every field). It is
validated when loaded: a bad file raises :class:`~wardwatch.errors.ConfigurationError` naming the
file, the rule and the field, e.g. ``ward.yaml: rule 'spo2.low' (rules[0]), field 'delay_s'``.

>>> cfg = load_config_text('''
... rules:
...   - {id: spo2.low, type: threshold, signal: MDC_PULS_OXIM_SAT_O2, op: "<", delay_s: 15,
...      levels: [{limit: 90, priority: medium}, {limit: 85, priority: high}]}
... overrides:
...   - {bed: "07", rules: {spo2.low: {levels: [{limit: 85, priority: medium}]}}}
... ''', "ward.yaml")
>>> [lv.limit for lv in cfg.rules_for("p-0123456789abcdef0123", "01")[0].slots() if lv]
[90.0, 85.0]
>>> [lv.limit for lv in cfg.rules_for("p-0123456789abcdef0123", "07")[0].slots() if lv]
[85.0]
"""

from __future__ import annotations

import copy
import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError, field_validator, model_validator

from wardwatch.errors import ConfigurationError, UnknownSignalError
from wardwatch.streams.records import QualityFlag
from wardwatch.streams.signals import lookup

__all__ = [
    "Priority", "PRIORITIES", "Level", "ThresholdRule", "IntegralRule", "News2Rule", "ArrhythmiaRule",
    "VerifierGate", "QualityFlagRule", "NoDataRule", "Rule", "Step", "EscalationConfig", "AlarmConfig",
    "load_config", "load_config_text", "parse_config", "MESSAGE_FIELDS",
]

logger = logging.getLogger(__name__)

Priority = Literal["low", "medium", "high"]
#: IEC 60601-1-8 priorities, least urgent first; an alarm's *rank* is the index here.
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high")
Kind = Literal["physiological", "technical"]
Op = Literal["<", "<=", ">", ">="]
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
FeatureName = Annotated[str, Field(pattern=r"^[a-z0-9_.]{1,64}$")]
#: Names a message template may use; each rule fills those that apply (NaN or "" otherwise).
MESSAGE_FIELDS: dict[str, Any] = {
    "value": 1.0, "limit": 1.0, "unit": "%", "duration_s": 1.0, "worst": 1.0, "area": 1.0,
    "threshold": 1.0, "input": "x", "rule": "x", "priority": "high", "partial": "",
}
_DEFAULT_IGNORE: tuple[QualityFlag, ...] = ("artifact", "probe_off", "lead_off", "motion", "calibrating")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _known_signal(code: str) -> str:
    try:
        spec = lookup(code)
    except UnknownSignalError as exc:
        raise ValueError(str(exc)) from None
    if spec.code != code:
        raise ValueError(f"use the MDC reference id {spec.code!r}, not {code!r}")
    return code


class Level(_Model):
    """One graded level of a threshold rule: beyond ``limit`` the alarm has ``priority``."""

    limit: float = Field(allow_inf_nan=False)
    priority: Priority


class _Rule(_Model):
    id: RuleId
    kind: Kind = "physiological"
    group: RuleId | None = None
    latching: bool = False
    enabled: bool = True
    message: str = "{rule}: {input} {value:g} {unit} (limit {limit:g}) for {duration_s:.0f} s"
    quality_feature: FeatureName | None = None

    @field_validator("message")
    @classmethod
    def _template(cls, text: str) -> str:
        for _, name, _, _ in string.Formatter().parse(text):
            if name is not None and name not in MESSAGE_FIELDS:
                raise ValueError(f"unknown field {{{name}}}; allowed: {', '.join(MESSAGE_FIELDS)}")
        try:
            text.format(**MESSAGE_FIELDS)
        except (ValueError, IndexError, KeyError) as exc:
            raise ValueError(f"bad template: {exc}") from None
        return text


class _Input(_Model):
    signal: str | None = None
    feature: FeatureName | None = None

    @field_validator("signal")
    @classmethod
    def _signal(cls, code: str | None) -> str | None:
        return None if code is None else _known_signal(code)

    @model_validator(mode="after")
    def _one_input(self) -> "_Input":
        if (self.signal is None) == (self.feature is None):
            raise ValueError("signal: give exactly one of 'signal' (an MDC id) or 'feature' (a feature name)")
        return self

    @property
    def input(self) -> str:
        return self.signal or self.feature or ""


class ThresholdRule(_Rule, _Input):
    """A numeric signal or feature beyond a limit for ``delay_s``; graded levels raise the priority."""

    type: Literal["threshold"]
    op: Op
    limit: float | None = Field(default=None, allow_inf_nan=False)
    priority: Priority | None = None
    levels: list[Level] = []
    delay_s: float = Field(default=0.0, ge=0, le=3600)
    hysteresis: float = Field(default=0.0, ge=0)
    ignore_quality: tuple[QualityFlag, ...] = _DEFAULT_IGNORE
    _slots: list[Level | None] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _levels(self) -> "ThresholdRule":
        if self.levels and (self.limit is not None or self.priority is not None):
            raise ValueError("levels: give either 'levels' or 'limit' with 'priority', not both")
        if not self.levels and (self.limit is None or self.priority is None):
            raise ValueError("limit: give 'limit' and 'priority', or 'levels'")
        levels = self.levels or [Level(limit=self.limit, priority=self.priority)]  # type: ignore[arg-type]
        below = self.op in ("<", "<=")
        ordered = sorted(levels, key=lambda lv: -lv.limit if below else lv.limit)  # least severe first
        ranks = [PRIORITIES.index(lv.priority) for lv in ordered]
        if any(b <= a for a, b in zip(ranks, ranks[1:])) or len({lv.limit for lv in levels}) < len(levels):
            raise ValueError("levels: levels need distinct limits and a higher priority for each more severe limit")
        return self

    def slots(self) -> list[Level | None]:
        """The level of each priority (low, medium, high), ``None`` where the rule has none."""
        if self._slots is None:
            self._slots = [None, None, None]
            for lv in self.levels or [Level(limit=self.limit, priority=self.priority)]:  # type: ignore[arg-type]
                self._slots[PRIORITIES.index(lv.priority)] = lv
        return list(self._slots)


class IntegralRule(_Rule, _Input):
    """SatSeconds-style: alarm when the integral of the distance beyond ``limit`` reaches ``area``."""

    type: Literal["integral"]
    op: Literal["<", ">"] = "<"
    limit: float = Field(allow_inf_nan=False)
    area: float = Field(gt=0, description="unit x seconds, e.g. %*s for SpO2")
    priority: Priority
    hysteresis: float = Field(default=0.0, ge=0)
    max_gap_s: float = Field(default=10.0, gt=0)
    ignore_quality: tuple[QualityFlag, ...] = _DEFAULT_IGNORE


class Band(_Model):
    min_total: int = Field(ge=1, le=20)
    priority: Priority


class News2Rule(_Rule):
    """NEWS2 bands (from ``news2`` Features) mapped to priorities; partial scores still alarm."""

    type: Literal["news2"]
    source: str = "news2"
    single_parameter_3: Priority | None = "low"
    bands: list[Band] = [Band(min_total=5, priority="medium"), Band(min_total=7, priority="high")]
    delay_s: float = Field(default=0.0, ge=0, le=3600)
    hysteresis: int = Field(default=0, ge=0, le=5)
    message: str = "NEWS2 {value:.0f}{partial} ({priority})"

    @model_validator(mode="after")
    def _bands(self) -> "News2Rule":
        ranks = [PRIORITIES.index(b.priority) for b in sorted(self.bands, key=lambda b: b.min_total)]
        if any(b <= a for a, b in zip(ranks, ranks[1:])):
            raise ValueError("bands: a higher NEWS2 band needs a higher priority")
        return self


class VerifierGate(_Model):
    """The alarm verifier: a registered hook (callable) or a feature holding a probability."""

    hook: RuleId | None = None
    feature: FeatureName | None = None
    min_probability: float = Field(default=0.5, ge=0, le=1)
    wait_s: float = Field(default=10.0, ge=0, le=120)

    @model_validator(mode="after")
    def _one(self) -> "VerifierGate":
        if (self.hook is None) == (self.feature is None):
            raise ValueError("verifier: give exactly one of 'hook' or 'feature'")
        return self


class ArrhythmiaRule(_Rule):
    """An arrhythmia call (a feature >= ``limit``), gated by the alarm verifier when one is configured."""

    type: Literal["arrhythmia"]
    feature: FeatureName
    limit: float = 0.5
    priority: Priority = "high"
    delay_s: float = Field(default=0.0, ge=0, le=3600)
    latching: bool = True
    verifier: VerifierGate | None = None
    message: str = "{rule}: {input} {value:.2f} for {duration_s:.0f} s"

    @property
    def input(self) -> str:
        return self.feature


class QualityFlagRule(_Rule):
    """Technical: a quality flag (lead_off, probe_off, battery_low...) on the latest record of a signal."""

    type: Literal["quality_flag"]
    kind: Kind = "technical"
    flags: list[QualityFlag] = Field(min_length=1)
    signals: list[str] = []
    delay_s: float = Field(default=0.0, ge=0, le=3600)
    priority: Priority = "low"
    message: str = "{rule}: {input} for {duration_s:.0f} s"

    @field_validator("signals")
    @classmethod
    def _signals(cls, codes: list[str]) -> list[str]:
        return [_known_signal(c) for c in codes]


class NoDataRule(_Rule, _Input):
    """Technical: no record of a signal (or feature) for ``timeout_s`` of event time."""

    type: Literal["no_data"]
    kind: Kind = "technical"
    timeout_s: float = Field(gt=0, le=86400)
    priority: Priority = "low"
    message: str = "{rule}: no {input} for {duration_s:.0f} s"


Rule = Annotated[
    Union[ThresholdRule, IntegralRule, News2Rule, ArrhythmiaRule, QualityFlagRule, NoDataRule],
    Field(discriminator="type"),
]
_RULE = TypeAdapter(Rule)


class Step(_Model):
    """One escalation step: notify ``tier`` when the alarm is still unacknowledged ``after_s`` after it fired."""

    tier: RuleId
    after_s: float = Field(ge=0, le=86400)


def _ladder(*steps: tuple[str, float]) -> list[Step]:
    return [Step(tier=t, after_s=a) for t, a in steps]


_FULL = _ladder(("bedside_nurse", 0), ("charge_nurse", 120), ("on_call_doctor", 300))
_NURSES = _ladder(("bedside_nurse", 0), ("charge_nurse", 120))
_BEDSIDE = _ladder(("bedside_nurse", 0))


class EscalationConfig(_Model):
    """Escalation ladders per alarm kind and priority (a missing priority keeps its default)."""

    physiological: dict[Priority, list[Step]] = {}
    technical: dict[Priority, list[Step]] = {}

    @model_validator(mode="after")
    def _fill(self) -> "EscalationConfig":
        defaults = {"physiological": {"high": _FULL, "medium": _FULL, "low": _BEDSIDE},
                    "technical": {"high": _NURSES, "medium": _NURSES, "low": _BEDSIDE}}
        for kind, table in (("physiological", self.physiological), ("technical", self.technical)):
            for prio in PRIORITIES:
                table.setdefault(prio, defaults[kind][prio])
                steps = table[prio]
                if [s.after_s for s in steps] != sorted(s.after_s for s in steps):
                    raise ValueError(f"{kind}.{prio}: steps must come in order of after_s")
                if len({s.tier for s in steps}) < len(steps):
                    raise ValueError(f"{kind}.{prio}: a tier appears twice")
        return self

    def ladder(self, kind: str, priority: str) -> list[Step]:
        return (self.physiological if kind == "physiological" else self.technical)[priority]  # type: ignore[index]


class _Override(_Model):
    patient_ref: Annotated[str, Field(pattern=r"^p-[0-9a-f]{20}$")] | None = None
    bed: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")] | None = None
    rules: dict[RuleId, dict[str, Any]]

    @model_validator(mode="after")
    def _one(self) -> "_Override":
        if (self.patient_ref is None) == (self.bed is None):
            raise ValueError("patient_ref: match exactly one of 'patient_ref' or 'bed'")
        return self


@dataclass
class AlarmConfig:
    """A validated ward configuration. Build it with :func:`load_config` or :func:`parse_config`."""

    ward: str
    rules: tuple[Any, ...]
    escalation: EscalationConfig
    source: str = "<config>"
    overrides: tuple[_Override, ...] = ()
    _raw: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _cache: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict, repr=False)

    def rules_for(self, patient_ref: str, bed: str) -> tuple[Any, ...]:
        """Enabled rules for one patient in one bed: the bed's override, then the patient's."""
        key = (patient_ref, bed)
        if key not in self._cache:
            chosen = [o for o in self.overrides if o.bed == bed] + [o for o in self.overrides if o.patient_ref == patient_ref]
            raw = self._raw
            for o in chosen:
                raw = _patched(raw, o.rules)
            rules = self.rules if not chosen else tuple(_RULE.validate_python(r) for r in raw.values())
            self._cache[key] = tuple(r for r in rules if r.enabled)
        return self._cache[key]


def _patched(raw: dict[str, dict[str, Any]], patches: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(raw)
    for rule_id, patch in patches.items():
        base = out.setdefault(rule_id, {"id": rule_id})
        if "levels" in patch:
            base.pop("limit", None), base.pop("priority", None)
        elif "limit" in patch and "levels" in base and base.get("type") == "threshold":
            base.pop("levels")
        base.update(copy.deepcopy(patch))
    return out


_NAMED = re.compile(r"^([a-z_]+(?:\.[a-z_]+)?): (.*)$", re.DOTALL)


def _where(loc: tuple[Any, ...]) -> str:
    parts = ""
    for p in loc:
        parts += f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p))
    return parts or "type"


def _fail(source: str, where: str, exc: ValidationError) -> ConfigurationError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    if loc and loc[0] in ("threshold", "integral", "news2", "arrhythmia", "quality_flag", "no_data"):
        loc = loc[1:]  # the discriminator's tag
    msg = str(err["msg"]).removeprefix("Value error, ")
    named = _NAMED.match(msg) if err["type"] == "value_error" else None
    if named and isinstance(err.get("input"), Mapping):  # a model-level check names its field first
        return ConfigurationError(f"{source}: {where}, field '{_where((*loc, named.group(1)))}'", named.group(2))
    return ConfigurationError(f"{source}: {where}, field '{_where(loc)}'", f"{msg} (got {err.get('input')!r})")


def parse_config(doc: Any, source: str = "<config>") -> AlarmConfig:
    """Validate a parsed YAML document; raise :class:`ConfigurationError` naming source, rule and field."""
    if not isinstance(doc, Mapping):
        raise ConfigurationError(source, "the file must hold a mapping with 'rules'")
    unknown = set(doc) - {"ward", "rules", "escalation", "overrides"}
    if unknown:
        raise ConfigurationError(f"{source}: field '{sorted(unknown)[0]}'", "unknown top-level key (ward, rules, escalation, overrides)")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigurationError(f"{source}: field 'rules'", "a non-empty list of rules is required")
    rules, raw, alarm_kind = [], {}, {}
    for i, item in enumerate(raw_rules):
        rid = item.get("id", "?") if isinstance(item, Mapping) else "?"
        try:
            rule = _RULE.validate_python(item)
        except ValidationError as exc:
            raise _fail(source, f"rule {rid!r} (rules[{i}])", exc) from exc
        if rule.id in raw:
            raise ConfigurationError(f"{source}: rule {rid!r} (rules[{i}]), field 'id'", "duplicate rule id")
        key = rule.group or rule.id
        if alarm_kind.setdefault(key, rule.kind) != rule.kind:
            raise ConfigurationError(f"{source}: rule {rid!r} (rules[{i}]), field 'group'", f"group {key!r} mixes physiological and technical rules")
        rules.append(rule)
        raw[rule.id] = dict(item)
    clash = {r.group for r in rules if r.group} & {r.id for r in rules if not r.group}
    if clash:
        raise ConfigurationError(f"{source}: field 'group'", f"group {sorted(clash)[0]!r} is also the id of an ungrouped rule")
    try:
        escalation = EscalationConfig.model_validate(doc.get("escalation") or {})
    except ValidationError as exc:
        raise _fail(source, "escalation", exc) from exc
    overrides = []
    for j, item in enumerate(doc.get("overrides") or []):
        try:
            ov = _Override.model_validate(item)
        except ValidationError as exc:
            raise _fail(source, f"overrides[{j}]", exc) from exc
        patched = _patched(raw, ov.rules)
        for rid in ov.rules:
            try:
                _RULE.validate_python(patched[rid])
            except ValidationError as exc:
                raise _fail(source, f"overrides[{j}] rule {rid!r}", exc) from exc
        overrides.append(ov)
    ward = str(doc.get("ward", "*"))
    logger.debug("alarm config %s: %d rules, %d overrides", source, len(rules), len(overrides))
    return AlarmConfig(ward=ward, rules=tuple(rules), escalation=escalation, source=source, overrides=tuple(overrides), _raw=raw)


def load_config_text(text: str, source: str = "<string>") -> AlarmConfig:
    """Parse and validate YAML text."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(source, f"not valid YAML: {exc}") from exc
    return parse_config(doc, source)


def load_config(path: str | Path | None = None) -> AlarmConfig:
    """Load a ward's alarm configuration; ``None`` loads the shipped ``ward-default.yaml``."""
    if path is None:
        text = resources.files("wardwatch.alerting").joinpath("defaults/ward-default.yaml").read_text(encoding="utf-8")
        return load_config_text(text, "ward-default.yaml")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(str(p), f"cannot read the alarm configuration: {exc.strerror}") from exc
    return load_config_text(text, p.name)
