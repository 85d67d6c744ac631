"""The verifier rejects every planted false claim and accepts correct notes (the template's included)."""

from __future__ import annotations

import pytest

from wardwatch.models.notes.facts import Fact, facts_to_record, utc_hhmm
from wardwatch.models.notes.verifier import NoteVerifier
from wardwatch.models.notes.writing import render_facts, template_note

from .conftest import T0

GOOD = ("Bed 07: SpO2 84 % for 20 s, below the 85 % limit; high priority since {t} UTC.\n"
        "SpO2 falling over 15 min (-6 %); heart rate stable.\nNEWS2 6, medium band.")


@pytest.fixture(scope="module")
def verifier() -> NoteVerifier:
    return NoteVerifier.default()


def test_facts_are_computed_from_the_alert_and_context(facts: list[Fact]) -> None:
    by_id = {f.id: f for f in facts}
    assert by_id["spo2.value"].value == 84.0 and by_id["spo2.value"].unit == "%"
    assert by_id["spo2.limit_high"].value == 85.0 and by_id["alarm.duration"].value == 20.0
    assert by_id["spo2.trend_15m"].value == "falling" and by_id["hr.trend_15m"].value == "stable"
    assert by_id["hr.trend_1h"].value == "rising"  # +12 /min >= 5 /min
    assert by_id["news2.total"].value == 6.0 and by_id["news2.band"].value == "medium"
    assert by_id["others.active"].value == "news2 (medium)" and by_id["others.count"].value == 1.0
    assert by_id["alarm.onset_utc"].value == utc_hhmm(T0)
    assert facts_to_record(facts)["spo2.value [%]"] == 84.0


def test_template_note_is_accepted_and_has_the_format(verifier: NoteVerifier, facts: list[Fact]) -> None:
    note = template_note(facts)
    lines = note.splitlines()
    assert 1 <= len(lines) <= 4 and lines[0].startswith("Bed 07: SpO2 84 % (limit 85 %) for 20 s, high priority")
    verdict = verifier.verify(note, facts)
    assert verdict.accepted, verdict.reason
    assert verdict.claims >= 10


def test_prompt_carries_bed_and_facts_only(facts: list[Fact]) -> None:
    block = render_facts(facts)
    assert "Bed: 07" in block and "p-0123456789abcdef0123" not in block and "ward-a" not in block


def test_correct_model_style_note_is_accepted(verifier: NoteVerifier, facts: list[Fact]) -> None:
    verdict = verifier.verify(GOOD.format(t=utc_hhmm(T0)), facts)
    assert verdict.accepted, verdict.reason


@pytest.mark.parametrize(("note", "why"), [
    ("Bed 07: SpO2 80 % for 20 s.", "number 80 %"),                       # false number
    ("Bed 07: SpO2 84 % for 20 s; heart rate 120 /min.", "number 120"),    # false number of another signal
    ("Bed 07: heart rate 84 /min.", "number 84 /min"),                    # right number, wrong signal
    ("Bed 07: SpO2 84 mmHg.", "84 mm[Hg]"),                               # wrong unit
    ("Bed 07: SpO2 84 /min.", "84 /min"),                                 # wrong unit
    ("Bed 07: temperature 38.5 °F.", "unit"),                             # a unit no fact carries
    ("Bed 07: SpO2 84 % for 5 min.", "number 5 min"),                     # wrong duration
    ("Bed 07: SpO2 rising over 15 min.", "not 'rising'"),                 # wrong trend
    ("Bed 07: heart rate falling.", "not 'falling'"),                     # wrong trend
    ("Bed 07: heart rate stable over 1 h.", "not 'stable'"),              # wrong trend at the named horizon
    ("Bed 07: SpO2 84 % since 23:59 UTC.", "time 23:59"),                 # wrong time
    ("Bed 07: SpO2 84 % above 85 %.", "not above"),                       # false comparison
    ("Bed 08: SpO2 84 %.", "bed"),                                        # wrong bed
    ("Bed 07: SpO2 84 %, low priority.", "priority"),                     # wrong priority
    ("Bed 07: NEWS2 6, high band.", "band"),                              # wrong band
    ("Bed 07: NEWS2 9.", "number 9"),                                     # wrong score
    ("Bed 07: other alarms: none.", "no other alarms"),                   # there is one
    ("Bed 07: hr.high alarm.", "rule 'hr.high'"),                         # an alarm that does not exist
    ("Bed 07: SpO2 84 %, likely sepsis.", "diagnosis"),                   # diagnosis
    ("Bed 07: SpO2 84 %, consistent with pneumonia.", "diagnosis"),       # diagnosis
    ("Bed 07: SpO2 84 %; give oxygen and antibiotics.", "treatment"),     # treatment advice
    ("Bed 07: SpO2 84 %; consider urgent review.", "treatment"),          # advice
    ("Bed 07: SpO2 84 %, patient deteriorating.", "judgement"),           # judgement
    ("Bed 07: tachycardia with SpO2 84 %.", "tachycardia"),               # unbacked clinical term
    ("Bed 07: SpO2 84 %, fever.", "fever"),                               # unbacked clinical term
    ("Bed 07: SpO2 84 %, patient p-0123456789abcdef0123.", "reference"),  # identifiers stay out of notes
    ("Bed 07: SpO2 84 %, patient is not hypoxic.", "unverifiable word"),  # negation and unknown words
    ("a\nb\nc\nd\ne", "lines"),                                            # format
])
def test_planted_false_claims_are_rejected(verifier: NoteVerifier, facts: list[Fact], note: str, why: str) -> None:
    verdict = verifier.verify(note, facts)
    assert not verdict.accepted
    assert why in verdict.reason, verdict.reason


def test_backed_clinical_term_and_duration_in_minutes_are_accepted(verifier: NoteVerifier, facts: list[Fact]) -> None:
    assert verifier.verify("Bed 07: desaturation, SpO2 84 % for 20 s.", facts).accepted
    long = [*facts, Fact("alarm.duration2", 745.0, "s")]
    assert verifier.verify("Bed 07: SpO2 84 % for 12 min.", long).accepted
