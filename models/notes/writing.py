"""Wording: the facts as a prompt block, the versioned prompts, and the deterministic template note.

The prompt carries the bed and the computed facts only: no patient reference, no name, no record
number. Prompts live in ``prompts/note-v{N}.txt`` (``{facts}`` is replaced by :func:`render_facts`).

>>> from wardwatch.models.notes.facts import Fact
>>> facts = [Fact("alarm.bed", "04"), Fact("alarm.rule", "spo2.low"), Fact("alarm.priority", "medium"),
...          Fact("alarm.onset_utc", "10:02"), Fact("spo2.value", 87.0, "%", 0, "spo2"),
...          Fact("spo2.limit_medium", 90.0, "%", 0, "spo2"), Fact("alarm.duration", 40.0, "s")]
>>> print(template_note(facts))
Bed 04: SpO2 87 % (limit 90 %) for 40 s, medium priority, since 10:02 UTC.
"""

from __future__ import annotations

import logging
from importlib.resources import files

from wardwatch.errors import ConfigurationError
from wardwatch.models.notes.facts import SUBJECTS, Fact

__all__ = ["render_facts", "template_note", "load_prompt", "build_prompt", "PROMPT_VERSION", "clean_completion"]

logger = logging.getLogger(__name__)

#: The prompt version used unless configured otherwise.
PROMPT_VERSION = "v1"
_LABEL = {"hr": "heart rate", "spo2": "SpO2", "rr": "respiratory rate", "sbp": "systolic BP", "temp": "temperature"}
_ORDER = ("spo2", "hr", "rr", "sbp", "temp")


def _fmt(value: float, unit: str, signed: bool = False) -> str:
    decimals = 1 if unit == "Cel" else 0
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    return f"{text} {unit}" if unit else text


def _get(facts: list[Fact], ident: str) -> Fact | None:
    return next((f for f in facts if f.id == ident), None)


def _subject(facts: list[Fact]) -> str:
    rule = _get(facts, "alarm.rule")
    if rule is not None and rule.value == "news2":
        return "news2"
    return next((f.subject for f in facts if f.id.endswith(".value") and f.subject in _LABEL), "")


def _what(facts: list[Fact]) -> str:
    s = _subject(facts)
    if s == "news2" and _get(facts, "news2.total") is not None:
        total, band = _get(facts, "news2.total"), _get(facts, "news2.band")
        return f"NEWS2 {_fmt(total.value, '')}" + (f" ({band.value} band)" if band else "")  # type: ignore[union-attr,arg-type]
    parts = []
    if s:
        value = _get(facts, f"{s}.value")
        unit = SUBJECTS[s][1]
        parts.append(f"{_LABEL[s]} {_fmt(value.value, unit)}")  # type: ignore[union-attr,arg-type]
        prio = _get(facts, "alarm.priority")
        limit = _get(facts, f"{s}.limit_{prio.value if prio else ''}") or next(
            (f for f in facts if f.id.startswith(f"{s}.limit_")), None)
        if limit is not None:
            parts.append(f"(limit {_fmt(limit.value, unit)})")  # type: ignore[arg-type]
    else:
        rule = _get(facts, "alarm.rule")
        parts.append(f"rule {rule.value if rule else 'unknown'}")
    duration = _get(facts, "alarm.duration")
    if duration is not None and duration.value:
        parts.append(f"for {_fmt(duration.value, 's')}")  # type: ignore[arg-type]
    return " ".join(parts)


def _trend_line(facts: list[Fact]) -> str:
    first = _subject(facts)
    order = sorted(_ORDER, key=lambda s: s != first)
    parts = []
    for s in order:
        trend, change = _get(facts, f"{s}.trend_15m"), _get(facts, f"{s}.change_15m")
        if trend is not None and change is not None:
            parts.append(f"{_LABEL[s]} {trend.value} ({_fmt(change.value, SUBJECTS[s][1], signed=True)})")  # type: ignore[arg-type]
    return ("Over 15 min: " + "; ".join(parts[:3]) + ".") if parts else ""


def _news2_line(facts: list[Fact]) -> str:
    total, band = _get(facts, "news2.total"), _get(facts, "news2.band")
    medians = [f"{_LABEL[s]} {_fmt(m.value, SUBJECTS[s][1])}" for s in _ORDER  # type: ignore[arg-type]
               if (m := _get(facts, f"{s}.median_5m")) is not None]
    out = []
    if total is not None:
        out.append(f"NEWS2 {_fmt(total.value, '')}" + (f" ({band.value} band)" if band else ""))  # type: ignore[arg-type]
    if medians:
        out.append("medians: " + ", ".join(medians[:4]))
    return ("; ".join(out) + ".") if out else ""


def _others_line(facts: list[Fact]) -> str:
    active, acked = _get(facts, "others.active"), _get(facts, "others.acknowledged")
    out = [f"Other active alarms: {active.value if active else 'none'}."]
    if acked is not None and acked.value != "none":
        out.append(f"Acknowledged: {acked.value}.")
    quality = [f for f in facts if f.subject == "quality" and isinstance(f.value, float)]
    if quality:
        out.append(f"Signal quality {min(f.value for f in quality):.2f}.")  # type: ignore[type-var]
    return " ".join(out)


def template_note(facts: list[Fact]) -> str:
    """The deterministic note: one headline and up to three detail lines, every number a fact."""
    bed, prio, onset = _get(facts, "alarm.bed"), _get(facts, "alarm.priority"), _get(facts, "alarm.onset_utc")
    kind = _get(facts, "alarm.kind")
    technical = "technical " if kind is not None and kind.value == "technical" else ""
    head = f"Bed {bed.value if bed else '?'}: {_what(facts)}, {technical}{prio.value if prio else ''} priority"
    if onset is not None:
        head += f", since {onset.value} UTC"
    lines = [head + "."]
    if len(facts) > 6:  # detail lines only when the context holds more than the alarm itself
        lines += [ln for ln in (_trend_line(facts), _news2_line(facts), _others_line(facts)) if ln]
    return "\n".join(lines)


def render_facts(facts: list[Fact]) -> str:
    """The facts block of the prompt: the template note's content as labelled lines."""
    lines = [f"Bed: {_get(facts, 'alarm.bed').value if _get(facts, 'alarm.bed') else '?'}"]  # type: ignore[union-attr]
    rule, prio, onset = _get(facts, "alarm.rule"), _get(facts, "alarm.priority"), _get(facts, "alarm.onset_utc")
    lines.append(f"Alarm: {rule.value if rule else '?'}, {prio.value if prio else '?'} priority"
                 + (f", since {onset.value} UTC" if onset else ""))
    lines.append(f"Reading: {_what(facts)}")
    for extra in (_trend_line(facts), _news2_line(facts), _others_line(facts)):
        if extra:
            lines.append(extra)
    return "\n".join(lines)


def load_prompt(version: str = PROMPT_VERSION) -> str:
    """The prompt text of ``version`` (``v1`` -> ``prompts/note-v1.txt``)."""
    try:
        return files("wardwatch.models.notes").joinpath(f"prompts/note-{version}.txt").read_text()
    except FileNotFoundError as exc:
        raise ConfigurationError("WARDWATCH_LLM_PROMPT_VERSION", f"no prompt {version!r}",
                                 "use a version with a file models/notes/prompts/note-<version>.txt") from exc


def build_prompt(facts: list[Fact], version: str = PROMPT_VERSION) -> str:
    """The completion prompt for ``facts``."""
    return load_prompt(version).replace("{facts}", render_facts(facts))


def clean_completion(text: str) -> str:
    """The note part of a raw completion: up to the end marker, at most four non-empty lines."""
    for marker in ("END", "\n\n", "Facts:", "###"):
        cut = text.find(marker)
        if cut > 0:
            text = text[:cut]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[:4])
