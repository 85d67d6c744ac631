"""The real Gemma 3 270M (packaged GGUF, offline): a note that is accepted, or the template with a recorded reason."""

from __future__ import annotations

import asyncio

import pytest

from wardwatch.models.notes.backends import TransformersBackend
from wardwatch.models.notes.facts import Fact
from wardwatch.models.notes.summarizer import NoteWriter
from wardwatch.models.notes.verifier import NoteVerifier
from wardwatch.models.notes.writing import template_note
from wardwatch.streams.records import Alert


@pytest.fixture(scope="module")
def gemma() -> TransformersBackend:
    backend = TransformersBackend(max_new_tokens=40, threads=2)
    backend.load()  # offline: from the GGUF file inside the installed package
    return backend


def test_gemma_note_is_verified_or_falls_back_with_a_reason(gemma: TransformersBackend, alert: Alert, facts: list[Fact]) -> None:
    assert gemma.model is not None and gemma.device in ("cpu", "cuda")
    note = asyncio.run(NoteWriter(gemma, timeout_s=600).write(alert, facts))
    if note.backend == "transformers":
        assert note.verified and note.rejection == ""
        assert NoteVerifier.default().verify(note.text, facts).accepted
    else:  # never an unverified model text: the template went out, and why is recorded
        assert note.backend == "template" and note.verified
        assert note.text == template_note(facts)
        assert note.rejection.startswith("transformers: ") and len(note.rejection) > len("transformers: ")
