"""The summarizer: computed facts of an alarm, worded by a backend, checked by a verifier."""

from wardwatch.models.notes.backends import NoteBackend, OpenAIBackend, TemplateBackend, TransformersBackend, make_backend
from wardwatch.models.notes.facts import Fact, NoteContext, build_facts
from wardwatch.models.notes.summarizer import NoteWriter
from wardwatch.models.notes.verifier import NoteVerifier, Verdict
from wardwatch.models.notes.writing import build_prompt, template_note

__all__ = ["Fact", "NoteContext", "build_facts", "NoteBackend", "TemplateBackend", "TransformersBackend", "OpenAIBackend",
           "make_backend", "NoteWriter", "NoteVerifier", "Verdict", "build_prompt", "template_note"]
