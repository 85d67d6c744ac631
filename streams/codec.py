"""Bytes on the wire: every canonical record is one MessagePack map, tagged by ``type``.

MessagePack was chosen by measurement (``bench/codec.py``, report in ``bench/reports/codec.md``):
of the encodings measured it is the only one that validates every record fully on decode and
carries int16 samples as raw bytes (717 bytes for 1 s of 250 Hz ECG against 930-969 as JSON); it
has the fastest encode plus decode for a waveform chunk, and for a numeric it is level with
msgspec JSON while faust.Record JSON decodes 3.4x slower without validating anything.
:func:`to_json` gives the same record as JSON for people and logs.

Decoding validates. Whatever is wrong, :func:`decode` raises
:class:`~wardwatch.errors.SchemaValidationError` with the field's path and the reason, so that an
agent can send the original bytes and the reason to the dead-letter topic.

>>> from wardwatch.streams.records import ChartedEvent
>>> ev = ChartedEvent(patient_ref="p-0123456789abcdef0123", ward="w", bed="1", source="ehr",
...                   timestamp_ns=1_790_000_000_000_000_000, event="consciousness", value="C")
>>> decode(encode(ev)) == ev
True
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, overload

import msgspec
import numpy as np

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.records import Record

__all__ = ["encode", "decode", "to_json", "from_json", "CONTENT_TYPE"]

#: Recorded in a Kafka header so that a reader knows how the value is encoded.
CONTENT_TYPE = "application/vnd.wardwatch+msgpack; version=1"

T = TypeVar("T")

def _enc_hook(obj: Any) -> Any:
    """Numpy scalars (what signal code returns) encode as the Python numbers they are."""
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    raise NotImplementedError(f"cannot encode objects of type {type(obj).__name__}")


_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_json_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}
_json_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}

_AT = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_OURS = re.compile(r"^(?P<path>\$[\w.\[\]]*): (?P<reason>.*)$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


def encode(record: Record) -> bytes:
    """Encode one canonical record as MessagePack."""
    return _encoder.encode(record)


def to_json(record: Record) -> bytes:
    """Encode one canonical record as JSON (bytes are base64), for people and logs."""
    return _json_encoder.encode(record)


def _error(exc: msgspec.ValidationError | msgspec.DecodeError, fmt: str) -> SchemaValidationError:
    text = str(exc)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return SchemaValidationError("$", f"not a valid {fmt} message: {text}")
    match = _AT.match(text)
    reason, path = (match.group("reason"), match.group("path")) if match else (text, None)
    ours = _OURS.match(reason)
    if ours:  # raised by a record's own checks: the path is in the message
        return SchemaValidationError(ours.group("path"), ours.group("reason"))
    missing = _MISSING.match(reason)
    if missing:
        return SchemaValidationError(f"{path or '$'}.{missing.group('name')}", "required field is missing")
    if path and path.endswith(".patient_ref") and "matching regex" in reason:
        reason = "must be a pseudonymous reference (p- and 20 hex digits from pseudonymize()), never a name or record number"
    if path == "$.type" or reason.startswith("Object missing required field `type`"):
        reason = f"{reason} (type must be one of numeric, waveform, event, alert, note, features)"
    return SchemaValidationError(path or "$", reason)


@overload
def decode(data: bytes) -> Record: ...
@overload
def decode(data: bytes, type: type[T]) -> T: ...
def decode(data: bytes, type: Any = Record) -> Any:
    """Decode and validate MessagePack bytes as ``type`` (any canonical record by default)."""
    decoder = _decoders.get(type)
    if decoder is None:
        decoder = _decoders[type] = msgspec.msgpack.Decoder(type)
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _error(exc, "MessagePack") from exc


def from_json(data: bytes | str, type: Any = Record) -> Any:
    """Decode and validate JSON as ``type`` (any canonical record by default)."""
    decoder = _json_decoders.get(type)
    if decoder is None:
        decoder = _json_decoders[type] = msgspec.json.Decoder(type)
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _error(exc, "JSON") from exc
