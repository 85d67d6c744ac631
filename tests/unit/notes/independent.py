"""An independent check of verified notes, written apart from the verifier and sharing none of its code.

It sees only what an :class:`AlertNote` carries (``text`` and ``facts`` as ``{"id [unit]": value}``)
and asks three plain questions of every note:

1. every number in the text (times, the bed and rule ids aside) is within 1.5 of some fact value
   (or of a duration fact expressed in minutes / hours, or the magnitude of a change fact);
2. every word that states a direction (rise/fall/stable) appears only where some trend fact of the
   same direction exists;
3. no word from a short, separately kept list of diagnoses and advice appears.

It is coarser than the verifier (it does not tie numbers to signals), so it can only miss
problems, never invent them: a claim it flags is unsupported for sure.
"""

from __future__ import annotations

import re

__all__ = ["unsupported_claims"]

_FORBIDDEN = ("sepsis", "septic", "pneumonia", "infection", "shock", "failure", "arrest", "embolism", "antibiotic",
              "fluid", "bolus", "administer", "give ", "should", "recommend", "consider", "intubat", "diagnos", "likely",
              "treat", "dose", "mg ")
_DIRECTIONS = {"ris": "rising", "increas": "rising", "climb": "rising", "rose": "rising",
               "fall": "falling", "fell": "falling", "decreas": "falling", "drop": "falling", "declin": "falling",
               "stable": "stable", "steady": "stable", "unchanged": "stable"}


def _facts(facts: dict[str, str | float]) -> tuple[list[float], set[str], set[str]]:
    numbers: list[float] = []
    trends: set[str] = set()
    times: set[str] = set()
    for key, value in facts.items():
        if isinstance(value, (int, float)):
            v = float(value)
            numbers += [v, abs(v)]
            if key.endswith("[s]"):
                numbers += [v / 60.0, v / 3600.0]
        elif ".trend_" in key:
            trends.add(str(value))
        elif re.fullmatch(r"\d\d:\d\d", str(value)):
            times.add(str(value))
    return numbers, trends, times


def unsupported_claims(text: str, facts: dict[str, str | float]) -> list[str]:
    """What in ``text`` the facts do not support (empty: nothing found)."""
    numbers, trends, times = _facts(facts)
    problems: list[str] = []
    lowered = text.lower()
    for t in re.findall(r"\d{1,2}:\d{2}", lowered):
        if t.zfill(5) not in times:
            problems.append(f"time {t}")
    bed = str(facts.get("alarm.bed", ""))
    scrubbed = re.sub(r"\d{1,2}:\d{2}", " ", lowered)
    scrubbed = re.sub(r"\b[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*", " ", scrubbed)  # rule ids
    scrubbed = re.sub(r"spo2|news2", " ", scrubbed)
    scrubbed = re.sub(rf"bed\s+{re.escape(bed.lower())}\b", " ", scrubbed) if bed else scrubbed
    for token in re.findall(r"\d+(?:\.\d+)?", scrubbed):
        x = float(token)
        if not any(abs(x - n) <= 1.5 for n in numbers):
            problems.append(f"number {token}")
    for stem, direction in _DIRECTIONS.items():
        if re.search(rf"\b{stem}", lowered) and direction not in trends:
            problems.append(f"trend {direction}")
    for word in _FORBIDDEN:
        if word in lowered + " ":
            problems.append(f"forbidden {word.strip()}")
    return problems
