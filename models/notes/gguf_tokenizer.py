"""A correct fast tokenizer for SentencePiece-BPE GGUF files (Gemma 3), built from the file itself.

transformers 5.16 turns the tokenizer of a Gemma 3 GGUF file into a *Unigram* model scored with the
file's ``tokenizer.ggml.scores``. In these files the scores are merge ranks (``-rank``), not
log-probabilities, so Unigram prefers single characters: "The capital of France is" becomes ten
pieces instead of five, and the model answers with broken words. SentencePiece's BPE merges the
adjacent pair whose concatenation has the highest score first; :func:`gguf_bpe_tokenizer` rebuilds
exactly that as a ``tokenizers`` BPE model (merges ordered by the merged piece's score, byte fallback,
control tokens special, user-defined pieces such as runs of newlines kept whole).

>>> # doctest: +SKIP
>>> tok = gguf_bpe_tokenizer(packaged_gguf())
>>> tok.convert_ids_to_tokens(tok("The capital of France is").input_ids)
['<bos>', 'The', '▁capital', '▁of', '▁France', '▁is']
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from wardwatch.errors import ConfigurationError

__all__ = ["gguf_bpe_tokenizer"]

logger = logging.getLogger(__name__)

#: Part of the cache key: a change to how the tokenizer is built must not reuse an old cache.
_BUILD = "bpe1"
# SentencePiece piece types as GGUF stores them (tokenizer.ggml.token_type)
_NORMAL, _CONTROL, _USER_DEFINED, _BYTE = 1, 3, 4, 6


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise ConfigurationError("WARDWATCH_LLM_MODEL_PATH", f"the GGUF file has no {key}", "give a GGUF file with a tokenizer")
    return field


def _scalar(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return default
    value = field.parts[field.data[0]]
    return bytes(value).decode() if field.types and field.types[0].name == "STRING" else value[0]


def gguf_bpe_tokenizer(path: Path, cache_dir: Path | None = None) -> Any:
    """A ``PreTrainedTokenizerFast`` for the SentencePiece-BPE tokenizer stored in the GGUF file ``path``,
    or ``None`` when the file's tokenizer is of another kind (then transformers' own conversion applies).

    Building it reads the whole vocabulary (seconds); the result is cached as ``tokenizer.json`` in
    ``cache_dir`` (default ``~/.cache/wardwatch/tokenizers``), keyed by the file's size and mtime.
    """
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    stat = path.stat()
    cache = (cache_dir or Path.home() / ".cache" / "wardwatch" / "tokenizers") / f"{path.stem}-{stat.st_size}-{int(stat.st_mtime)}-{_BUILD}"
    if (cache / "tokenizer.json").is_file():
        specials = json.loads((cache / "specials.json").read_text())
        return PreTrainedTokenizerFast(tokenizer_file=str(cache / "tokenizer.json"), **specials)
    reader = GGUFReader(str(path))
    if _scalar(reader, "tokenizer.ggml.model") != "llama" or "tokenizer.ggml.merges" in reader.fields:
        return None
    tok_field = _field(reader, "tokenizer.ggml.tokens")
    tokens = [bytes(tok_field.parts[i]).decode("utf-8", errors="replace") for i in tok_field.data]
    score_field = _field(reader, "tokenizer.ggml.scores")
    scores = np.array([score_field.parts[i][0] for i in score_field.data], dtype=np.float64)
    type_field = _field(reader, "tokenizer.ggml.token_type")
    types = np.array([type_field.parts[i][0] for i in type_field.data], dtype=np.int64)
    vocab = {piece: i for i, piece in enumerate(tokens)}
    merges: list[tuple[str, str]] = []
    for i in np.argsort(-scores, kind="stable"):  # highest score merges first, as SentencePiece BPE
        piece = tokens[i]
        if types[i] != _NORMAL or len(piece) < 2:
            continue
        for k in range(1, len(piece)):
            left, right = vocab.get(piece[:k]), vocab.get(piece[k:])
            if left is not None and right is not None and types[left] == _NORMAL and types[right] == _NORMAL:
                merges.append((piece[:k], piece[k:]))
    bos = tokens[int(_scalar(reader, "tokenizer.ggml.bos_token_id", 2))]
    eos = tokens[int(_scalar(reader, "tokenizer.ggml.eos_token_id", 1))]
    unk = tokens[int(_scalar(reader, "tokenizer.ggml.unknown_token_id", 3))]
    pad = tokens[int(_scalar(reader, "tokenizer.ggml.padding_token_id", 0))]
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk, byte_fallback=True, fuse_unk=True))
    core.normalizer = normalizers.Replace(" ", "▁")
    core.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    core.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in np.flatnonzero(types == _CONTROL)])
    core.add_tokens([AddedToken(tokens[i], normalized=False) for i in np.flatnonzero(types == _USER_DEFINED)])
    core.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B",
                                                         special_tokens=[(bos, vocab[bos])])
    logger.info("GGUF tokenizer: %d pieces, %d merges", len(tokens), len(merges))
    specials = {"bos_token": bos, "eos_token": eos, "unk_token": unk, "pad_token": pad}
    try:
        cache.mkdir(parents=True, exist_ok=True)
        core.save(str(cache / "tokenizer.json"))
        (cache / "specials.json").write_text(json.dumps(specials))
    except OSError as exc:  # a read-only home: build it again next time
        logger.warning("cannot cache the GGUF tokenizer in %s: %s", cache, exc)
    return PreTrainedTokenizerFast(tokenizer_object=core, **specials)
