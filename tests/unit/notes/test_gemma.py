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


def test_gguf_tokenizer_splits_words_as_sentencepiece_bpe_and_round_trips(gemma: TransformersBackend) -> None:
    # transformers' own conversion of this file gave single characters ("T", "he", ...): ten pieces
    tok = gemma.tokenizer
    ids = tok("The capital of France is").input_ids
    assert tok.convert_ids_to_tokens(ids) == ["<bos>", "The", "▁capital", "▁of", "▁France", "▁is"]
    text = "Bed 07: SpO2 84 % for 20 s, below the 85 % limit.\nNEWS2 6 (medium band)."
    assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text
    assert tok.eos_token == "<eos>" and tok.bos_token_id == ids[0]


def test_gemma_continues_plain_english_coherently(gemma: TransformersBackend) -> None:
    # with a broken tokenizer the model answered "is is is is ..."; a working one writes words
    words = gemma.generate("The capital of France is").split()
    assert len(words) >= 8 and len(set(words)) >= 5, words
    assert max(words.count(w) for w in words) <= len(words) // 3, words  # no "is is is is"
