"""An independent checker confirms zero unsupported claims in notes the verifier accepted."""

from __future__ import annotations

import json
from pathlib import Path

from wardwatch.models.notes.evaluate import collect_alarms
from wardwatch.models.notes.facts import Fact, facts_to_record
from wardwatch.models.notes.verifier import NoteVerifier
from wardwatch.models.notes.writing import template_note

from .independent import unsupported_claims

ACCEPTED = Path(__file__).resolve().parents[3] / "bench" / "reports" / "notes-accepted.json"


def test_independent_checker_flags_planted_claims(facts: list[Fact]) -> None:
    record = facts_to_record(facts)
    assert unsupported_claims(template_note(facts), record) == []
    assert unsupported_claims("Bed 07: SpO2 79 %.", record) == ["number 79"]
    assert "forbidden sepsis" in unsupported_claims("Bed 07: SpO2 84 %, sepsis.", record)
    assert "time 23:59" in unsupported_claims("Bed 07: since 23:59.", record)


def test_template_notes_of_real_alarms_are_accepted_and_independently_clean(secret: bytes) -> None:
    alarms = collect_alarms(["acute-desaturation", "bradycardia"], secret)
    assert len(alarms) >= 3
    verifier = NoteVerifier.default()
    for alarm in alarms:
        text = template_note(alarm.facts)
        assert verifier.verify(text, alarm.facts).accepted, text
        assert unsupported_claims(text, facts_to_record(alarm.facts)) == [], text


def test_accepted_model_notes_of_the_benchmark_are_independently_clean() -> None:
    accepted = json.loads(ACCEPTED.read_text())
    for item in accepted:
        assert unsupported_claims(item["text"], item["facts"]) == [], item["text"]
