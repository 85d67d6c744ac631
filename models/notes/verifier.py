"""The note verifier: every claim in a note must be backed by a computed fact.

:class:`NoteVerifier` reads a note line by line and accepts it only if

- it is one headline line and at most three detail lines (each at most 200 characters);
- every **rule id** (``spo2.low``), **bed**, **pseudonymous reference** and **priority** it names is
  the alarm's (or, for rule ids, another alarm the facts list);
- every **time** (``HH:MM``, UTC) is a time fact within ``time_minutes``;
- every **number** matches a fact of the signal named before it on the line (or an alarm-level
  fact: durations, windows, counts), in the same **unit** when one is stated, within the stated
  tolerance (half a unit of the number's last digit plus the unit's tolerance, 5 % more for
  durations); ``12 min`` is 720 s; a unit no fact carries (``°F``, ``mg``) rejects the note;
- ``X below/above Y`` holds for the numbers stated;
- every **trend word** (``rising``, ``fell``, ``stable``...) agrees with the computed trend of the
  signal it follows, over the horizon the line names (15 min unless it says 1 h / 60 min);
- every **clinical term** (``tachycardia``, ``fever``, ``probe off``...) is backed by a value or an
  alarm as configured; **diagnoses**, **treatment or advice** and **judgements** are rejected;
- every other word is in the configured vocabulary: an unknown word is an unverifiable claim.

Terms, units and tolerances live in ``defaults/verifier.yaml``.

>>> from wardwatch.models.notes.facts import Fact
>>> v = NoteVerifier.default()
>>> facts = [Fact("spo2.value", 87.0, "%", 0, "spo2"), Fact("alarm.duration", 40.0, "s", 0, "")]
>>> v.verify("SpO2 87 % for 40 s.", facts).accepted
True
>>> v.verify("SpO2 81 % for 40 s.", facts).reason
'number 81 % (spo2) is not in the facts'
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from wardwatch.errors import ConfigurationError
from wardwatch.models.notes.facts import SUBJECTS, Fact

__all__ = ["Verdict", "NoteVerifier", "MAX_DETAIL_LINES", "MAX_LINE_CHARS"]

logger = logging.getLogger(__name__)

MAX_DETAIL_LINES = 3
MAX_LINE_CHARS = 200
_NUMBER = re.compile(r"(?<![\w.])([+\-−]?)(\d+(?:\.\d+)?)(?![\w.]*\d)")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?::\d{2})?\b")
_REF = re.compile(r"\bp-[0-9a-f]{6,}\b")
_RULE = re.compile(r"\b([a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*[a-z0-9_]|news2(?=\s*\())\b(\s*\((high|medium|low)\))?")
_BAND = re.compile(r"\b(low-medium|low|medium|high)\s+band\b")
_BED = re.compile(r"\bbed\s+([A-Za-z0-9._:-]+)", re.IGNORECASE)
_PRIORITY = re.compile(r"\b(high|medium|low)(?:\s*-\s*|\s+)priority\b")
_NONE = re.compile(r"\bother\s+(?:active\s+)?alarms?\s*:?\s*none\b")
_WORD = re.compile(r"[a-z][a-z0-9'\-]*")
_HORIZON = re.compile(r"\b(15\s*-?\s*min\w*|1\s*-?\s*h\b|1\s*hours?\b|60\s*-?\s*min\w*|one hour|an hour|hour)")
_COMPARE = {"below": "<", "under": "<", "above": ">", "exceeding": ">", "at or above": ">=", "at or below": "<="}
_KIND = {"diagnoses": "diagnosis", "treatments": "treatment or advice", "judgements": "judgement"}
_SUBJECT_FACTS = (".value", ".level", ".median_5m", ".worst")


@dataclass(frozen=True)
class Verdict:
    """The verifier's answer: ``accepted``, or the first ``reason`` it was not; ``claims`` counted."""

    accepted: bool
    reason: str = ""
    claims: int = 0
    checked: list[str] = field(default_factory=list)


class _Reject(Exception):
    pass


@dataclass(frozen=True)
class _Num:
    start: int
    end: int
    value: float
    decimals: int
    signed: bool
    unit: str  # canonical: a fact unit, "min", "h", "" or "!xyz" (foreign)
    subject: str


class NoteVerifier:
    """Checks notes against facts. Build it with :meth:`default` or :meth:`from_file`."""

    def __init__(self, config: dict[str, Any]) -> None:
        try:
            self.tol: dict[str, float] = {str(k): float(v) for k, v in config["tolerances"].items()}
            self.duration_rel = float(config["duration_relative"])
            self.time_min = float(config["time_minutes"])
            self.units: list[tuple[str, str]] = sorted(
                ((w.lower(), unit) for unit, words in config["units"].items() for w in words), key=lambda p: -len(p[0]))
            self.foreign = sorted((u.lower() for u in config["foreign_units"]), key=len, reverse=True)
            self.trend_words = {w: d for d, words in config["trend_words"].items() for w in words}
            self.banned = [(t.lower(), kind) for kind in ("diagnoses", "treatments", "judgements") for t in config[kind]]
            self.terms: dict[str, dict[str, Any]] = {k.lower(): v for k, v in config["clinical_terms"].items()}
            self.vocabulary = {str(w).lower() for w in config["vocabulary"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError("WARDWATCH_LLM_VERIFIER_PATH", f"verifier configuration is incomplete: {exc}",
                                     "start from models/notes/defaults/verifier.yaml") from exc
        self.banned.sort(key=lambda p: -len(p[0]))
        self._banned_re = [(re.compile(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])"), t, kind) for t, kind in self.banned]
        self._terms_re = [(re.compile(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])"), t, spec)
                          for t, spec in sorted(self.terms.items(), key=lambda p: -len(p[0]))]
        mentions = [(w, s) for s, (words, _, _) in SUBJECTS.items() for w in words]
        self.mentions = sorted(mentions, key=lambda p: -len(p[0]))
        alt = "|".join(re.escape(u) for u, _ in self.units) + "|" + "|".join(re.escape(u) for u in self.foreign)
        self._unit_re = re.compile(rf"[ \t-]*({alt})(?![a-z0-9])")

    @classmethod
    def from_file(cls, path: str | Path) -> "NoteVerifier":
        try:
            return cls(yaml.safe_load(Path(path).read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError("WARDWATCH_LLM_VERIFIER_PATH", f"cannot read {path}: {exc}", "give a readable YAML file") from exc

    @classmethod
    def default(cls) -> "NoteVerifier":
        return cls(yaml.safe_load(files("wardwatch.models.notes").joinpath("defaults/verifier.yaml").read_text()))

    # -- entry point ---------------------------------------------------------------------------
    def verify(self, text: str, facts: list[Fact]) -> Verdict:
        """Accept ``text`` only if every claim in it is backed by ``facts``."""
        checked: list[str] = []
        try:
            lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
            if not lines:
                raise _Reject("empty note")
            if len(lines) > 1 + MAX_DETAIL_LINES:
                raise _Reject(f"{len(lines)} lines: at most one headline and {MAX_DETAIL_LINES} detail lines")
            for line in lines:
                if len(line) > MAX_LINE_CHARS:
                    raise _Reject(f"a line of {len(line)} characters (at most {MAX_LINE_CHARS})")
                self._line(line, facts, checked)
        except _Reject as exc:
            return Verdict(False, str(exc), len(checked), checked)
        return Verdict(True, "", len(checked), checked)

    # -- one line --------------------------------------------------------------------------------
    def _line(self, raw: str, facts: list[Fact], checked: list[str]) -> None:
        by_id = {f.id: f for f in facts}
        line = raw.replace("−", "-").replace("–", "-")
        low = line.lower()
        low = self._identities(line, low, by_id, checked)
        low = self._times(low, facts, checked)
        spans = self._subjects(low)
        masked = _mask(low, [(a, b) for a, b, _ in spans])
        numbers = self._numbers(masked, spans)
        for n in numbers:
            self._check_number(n, facts, checked)
        self._comparisons(masked, numbers, checked)
        masked = _mask(masked, [(n.start, n.end) for n in numbers])
        masked = self._trends(masked, low, spans, facts, checked)
        masked = self._terms(masked, facts, checked)
        for word in _WORD.findall(masked):
            if word.strip("-'") and word.strip("-'") not in self.vocabulary:
                raise _Reject(f"unverifiable word {word!r}")

    def _identities(self, line: str, low: str, by_id: dict[str, Fact], checked: list[str]) -> str:
        for m in _REF.finditer(low):
            raise _Reject(f"a patient reference {m.group(0)[:8]}...: notes name the bed only")
        bed = str(by_id["alarm.bed"].value).lower() if "alarm.bed" in by_id else None
        for m in _BED.finditer(line):
            if m.group(1).rstrip(".,;:").lower() != bed:
                raise _Reject(f"bed {m.group(1)!r} is not the alarm's bed")
            checked.append(f"bed {m.group(1)}")
            low = _mask(low, [(m.start(1), m.end(1))])
        rules = {str(f.value) for f in by_id.values() if f.id == "alarm.rule"}
        for key in ("others.active", "others.acknowledged"):
            if key in by_id:
                rules |= {part.split(" (")[0].strip() for part in str(by_id[key].value).split(",")}
        listed = {str(by_id[k].value) for k in ("alarm.rule",) if k in by_id}
        if "alarm.rule" in by_id and "alarm.priority" in by_id:
            listed.add(f"{by_id['alarm.rule'].value} ({by_id['alarm.priority'].value})")
        listed |= {p.strip() for p in str(by_id["others.active"].value).split(",")} if "others.active" in by_id else set()
        for m in _RULE.finditer(low):
            if m.group(1) not in rules:
                raise _Reject(f"rule {m.group(1)!r} is not an alarm in the facts")
            if m.group(3) and f"{m.group(1)} ({m.group(3)})" not in listed:
                raise _Reject(f"rule {m.group(1)!r} is not at {m.group(3)} priority in the facts")
            checked.append(f"rule {m.group(0)}")
            low = _mask(low, [(m.start(), m.end())])
        for m in _PRIORITY.finditer(low):
            if "alarm.priority" not in by_id or m.group(1) != by_id["alarm.priority"].value:
                raise _Reject(f"{m.group(1)} priority is not the alarm's priority")
            checked.append(f"priority {m.group(1)}")
            low = _mask(low, [(m.start(1), m.end(1))])
        for m in _BAND.finditer(low):
            if "news2.band" not in by_id or m.group(1) != by_id["news2.band"].value:
                raise _Reject(f"{m.group(1)} band is not the NEWS2 band in the facts")
            checked.append(f"band {m.group(1)}")
            low = _mask(low, [(m.start(1), m.end(1))])
        for m in _NONE.finditer(low):
            if "others.count" not in by_id or by_id["others.count"].value != 0.0:
                raise _Reject("says no other alarms, but the facts list some")
            checked.append("no other alarms")
        return low

    def _times(self, low: str, facts: list[Fact], checked: list[str]) -> str:
        times = [str(f.value) for f in facts if isinstance(f.value, str) and re.fullmatch(r"\d\d:\d\d", str(f.value))]
        for m in _TIME.finditer(low):
            stated = int(m.group(1)) * 60 + int(m.group(2))
            if not any(_minute_gap(stated, t) <= self.time_min for t in times):
                raise _Reject(f"time {m.group(0)} is not in the facts")
            checked.append(f"time {m.group(0)}")
            low = _mask(low, [(m.start(), m.end())])
        return low

    def _subjects(self, low: str) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        for word, subject in self.mentions:
            for m in re.finditer(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", low):
                if not any(a < m.end() and m.start() < b for a, b, _ in spans):
                    spans.append((m.start(), m.end(), subject))
        return sorted(spans)

    def _numbers(self, masked: str, spans: list[tuple[int, int, str]]) -> list[_Num]:
        out = []
        for m in _NUMBER.finditer(masked):
            unit, end = "", m.end()
            u = self._unit_re.match(masked, m.end())
            if u:
                word = u.group(1)
                unit = next((canon for w, canon in self.units if w == word), "!" + word)
                end = u.end()
            text = m.group(2)
            decimals = len(text.partition(".")[2])
            value = float(text) * (-1.0 if m.group(1) == "-" else 1.0)
            before = [s for a, _, s in spans if a < m.start()]
            out.append(_Num(m.start(), end, value, decimals, bool(m.group(1)), unit, before[-1] if before else ""))
        return out

    def _check_number(self, n: _Num, facts: list[Fact], checked: list[str]) -> None:
        shown = f"{_fmt(n)}{' ' + n.unit if n.unit else ''}"
        if n.unit.startswith("!"):
            raise _Reject(f"unit {n.unit[1:]!r} after {_fmt(n)} is not a unit of any fact")
        value, unit = n.value, n.unit
        rounding = 0.5 * 10.0 ** -n.decimals
        if unit in ("min", "h"):
            scale = 60.0 if unit == "min" else 3600.0
            value, unit, rounding = value * scale, "s", rounding * scale
        for f in facts:
            if not isinstance(f.value, float) or (n.subject and f.subject not in (n.subject, "")):
                continue
            if unit and f.unit != unit:
                continue
            tol = rounding + self.tol.get(f.unit, 0.0) + (self.duration_rel * abs(f.value) if f.unit == "s" else 0.0)
            if abs(value - f.value) <= tol or (not n.signed and ".change_" in f.id and abs(value - abs(f.value)) <= tol):
                checked.append(f"{shown} = {f.id}")
                return
        raise _Reject(f"number {shown} ({n.subject or 'no signal'}) is not in the facts")

    def _comparisons(self, masked: str, numbers: list[_Num], checked: list[str]) -> None:
        for a, b in zip(numbers, numbers[1:]):
            between = " ".join(masked[a.end:b.start].split())
            op = _COMPARE.get(between)
            if op is None:
                continue
            ok = {"<": a.value <= b.value, "<=": a.value <= b.value, ">": a.value >= b.value, ">=": a.value >= b.value}[op]
            if not ok:
                raise _Reject(f"{_fmt(a)} is not {between} {_fmt(b)}")
            checked.append(f"{_fmt(a)} {between} {_fmt(b)}")

    def _trends(self, masked: str, low: str, spans: list[tuple[int, int, str]], facts: list[Fact], checked: list[str]) -> str:
        marks = [(h.start(), "15m" if h.group(0).startswith("15") else "1h") for h in _HORIZON.finditer(low)]
        for m in _WORD.finditer(masked):
            direction = self.trend_words.get(m.group(0))
            if direction is None:
                continue
            before = [s for a, _, s in spans if a < m.start()]
            after = [s for a, _, s in spans if a > m.start()]
            subject = before[-1] if before else (after[0] if after else "")
            if not subject:
                raise _Reject(f"trend word {m.group(0)!r} names no signal")
            later = [h for a, h in marks if a > m.start()]
            earlier = [h for a, h in marks if a < m.start()]
            horizon = later[0] if later else (earlier[-1] if earlier else "15m")
            fact = next((f for f in facts if f.id == f"{subject}.trend_{horizon}"), None)
            if fact is None:
                raise _Reject(f"trend word {m.group(0)!r}: no {horizon} trend of {subject} in the facts")
            if fact.value != direction:
                raise _Reject(f"{subject} is {fact.value} over {horizon}, not {m.group(0)!r}")
            checked.append(f"{subject} {direction} over {horizon}")
            masked = _mask(masked, [(m.start(), m.end())])
        return masked

    def _terms(self, masked: str, facts: list[Fact], checked: list[str]) -> str:
        for pattern, term, kind in self._banned_re:
            if pattern.search(masked):
                raise _Reject(f"{_KIND[kind]}: {term!r}")
        rules = {str(f.value) for f in facts if f.id == "alarm.rule"}
        rules |= {p.split(" (")[0].strip() for f in facts if f.id == "others.active" for p in str(f.value).split(",")}
        for pattern, term, spec in self._terms_re:
            for m in pattern.finditer(masked):
                if not (rules & set(spec.get("rules", [])) or self._backed(spec, facts)):
                    raise _Reject(f"clinical term {term!r} is not backed by the facts")
                checked.append(f"term {term}")
                masked = _mask(masked, [(m.start(), m.end())])
        return masked

    @staticmethod
    def _backed(spec: dict[str, Any], facts: list[Fact]) -> bool:
        subject = spec.get("subject")
        if not subject:
            return False
        limit = float(spec["value"])
        test = {">": limit.__lt__, ">=": limit.__le__, "<": limit.__gt__, "<=": limit.__ge__}[spec["op"]]
        return any(f.subject == subject and f.id.endswith(_SUBJECT_FACTS) and isinstance(f.value, float)
                   and math.isfinite(f.value) and test(f.value) for f in facts)


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def _minute_gap(stated: int, fact: str) -> float:
    h, m = fact.split(":")
    gap = abs(stated - (int(h) * 60 + int(m)))
    return min(gap, 1440 - gap)


def _fmt(n: _Num) -> str:
    return f"{n.value:.{n.decimals}f}"
