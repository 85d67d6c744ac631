"""The summarizer: facts -> backend -> verifier -> :class:`~wardwatch.streams.records.AlertNote`.

What an AlertNote carries (``verified`` always describes ``text``, the text that goes out):

======================================= ============== ============ ========== =====================================
case                                    ``text``       ``backend``  verified   ``rejection``
======================================= ============== ============ ========== =====================================
template backend                        template note  template     True       ``""``
model note accepted by the verifier     model note     model's name True       ``""``
model note rejected                     template note  template     True       ``"<model>: <verifier's reason>"``
model timed out / failed                template note  template     True       ``"<model>: timed out after N s"`` / error
template note itself rejected (a bug)   template note  template     False      ``"template: <reason>"``
======================================= ============== ============ ========== =====================================

``facts`` holds every computed fact as ``{"id [unit]": value}``; ``latency_ms`` runs from the call to
the note (model time, verification and fallback included). A model text that failed verification
is never sent as a note, and never marked verified.
"""

from __future__ import annotations

import asyncio
import logging
import time

from wardwatch.models.notes.backends import NoteBackend, TemplateBackend
from wardwatch.models.notes.facts import Fact, facts_to_record
from wardwatch.models.notes.verifier import NoteVerifier
from wardwatch.models.notes.writing import PROMPT_VERSION, build_prompt, clean_completion, template_note
from wardwatch.streams.records import Alert, AlertNote

__all__ = ["NoteWriter"]

logger = logging.getLogger(__name__)


class NoteWriter:
    """Writes one verified note per call.

    Parameters
    ----------
    backend : NoteBackend
        Who words the facts.
    verifier : NoteVerifier, optional
        The checker (default: :meth:`NoteVerifier.default`).
    timeout_s : float
        Longest a model may take; then the template note goes out.
    prompt_version : str
        Prompt file version.
    log_prompts : bool
        Log prompts and raw answers (they carry the bed and facts, never an identifier).
    """

    def __init__(self, backend: NoteBackend | None = None, verifier: NoteVerifier | None = None, *, timeout_s: float = 20.0,
                 prompt_version: str = PROMPT_VERSION, log_prompts: bool = False) -> None:
        self.backend = backend or TemplateBackend()
        self.verifier = verifier or NoteVerifier.default()
        self.timeout_s = timeout_s
        self.prompt_version = prompt_version
        self.log_prompts = log_prompts

    def _note(self, alert: Alert, facts: list[Fact], text: str, backend: str, verified: bool, rejection: str,
              start: float) -> AlertNote:
        return AlertNote(alert_id=alert.alert_id, patient_ref=alert.patient_ref, text=text[:2000], facts=facts_to_record(facts),
                         backend=backend, verified=verified, rejection=rejection[:500],  # type: ignore[arg-type]
                         latency_ms=(time.perf_counter() - start) * 1000.0, created_ns=time.time_ns())

    def _template(self, alert: Alert, facts: list[Fact], rejection: str, start: float) -> AlertNote:
        text = template_note(facts)
        verdict = self.verifier.verify(text, facts)
        if not verdict.accepted:
            logger.error("template note of alert %s fails verification: %s", alert.alert_id, verdict.reason)
            rejection = "; ".join(r for r in (rejection, f"template: {verdict.reason}") if r)
        return self._note(alert, facts, text, "template", verdict.accepted, rejection, start)

    async def write(self, alert: Alert, facts: list[Fact]) -> AlertNote:
        """The note for ``alert``: the model's if the verifier accepts it, else the template's."""
        start = time.perf_counter()
        if isinstance(self.backend, TemplateBackend):
            return self._template(alert, facts, "", start)
        name = self.backend.name
        prompt = build_prompt(facts, self.prompt_version)
        try:
            raw = await asyncio.wait_for(self.backend.complete(prompt, facts), self.timeout_s)
        except asyncio.TimeoutError:
            logger.warning("note for alert %s: %s timed out after %.0f s; template note", alert.alert_id, name, self.timeout_s)
            return self._template(alert, facts, f"{name}: timed out after {self.timeout_s:g} s", start)
        except Exception as exc:  # noqa: BLE001 - any backend failure: the template note goes out
            logger.warning("note for alert %s: %s failed (%s); template note", alert.alert_id, name, exc)
            return self._template(alert, facts, f"{name}: {type(exc).__name__}: {exc}", start)
        text = clean_completion(raw)
        if self.log_prompts:
            logger.info("note prompt (%s, alert %s):\n%s\n--- answer:\n%s", self.prompt_version, alert.alert_id, prompt, raw)
        verdict = self.verifier.verify(text, facts) if text else None
        if verdict is None or not verdict.accepted:
            reason = verdict.reason if verdict is not None else "empty answer"
            logger.info("note for alert %s: %s text rejected (%s); template note", alert.alert_id, name, reason)
            return self._template(alert, facts, f"{name}: {reason}", start)
        return self._note(alert, facts, text, name, True, "", start)
