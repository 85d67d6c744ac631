"""Sealed dead letters: a rejected native message is kept whole, but not readable on the topic.

A message an adapter rejects still carries the patient's name and record number: it never got as
far as pseudonymization. To lose nothing *and* keep identifiers inside the adapter boundary, the
adapter seals the original bytes with AES-256-GCM before they go to the dead-letter topic. The key
is derived (HKDF-SHA256, its own label) from ``WARDWATCH_PSEUDONYM_SECRET``, which only the
hospital's adapters hold; :func:`unseal` gives the exact original bytes back for repair and replay
(``wardwatch dlq show --unseal``).

>>> blob = seal(b"MSH|^~\\\\&|...|PID|||MRN-1||DOE^JANE", b"0123456789abcdef0123")
>>> b"DOE" in blob, unseal(blob, b"0123456789abcdef0123")[:3]
(False, b'MSH')
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wardwatch.errors import WardWatchError

__all__ = ["seal", "unseal", "is_sealed", "SEAL_SCHEME", "UnsealError"]

#: Written in the ``wardwatch.payload.sealed`` header of a sealed dead letter.
SEAL_SCHEME = "aes-256-gcm;hkdf-sha256;v1"
_MAGIC = b"WWS1"
_INFO = b"wardwatch dead-letter seal v1"


class UnsealError(WardWatchError, ValueError):
    """The blob is not a sealed payload, or the key is not the one it was sealed with."""


def _key(secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def seal(payload: bytes, secret: bytes) -> bytes:
    """Encrypt and authenticate ``payload`` under a key derived from ``secret``."""
    nonce = os.urandom(12)
    return _MAGIC + nonce + AESGCM(_key(secret)).encrypt(nonce, payload, _MAGIC)


def is_sealed(blob: bytes) -> bool:
    return blob.startswith(_MAGIC) and len(blob) >= len(_MAGIC) + 12 + 16


def unseal(blob: bytes, secret: bytes) -> bytes:
    """The original bytes of a sealed payload; :class:`UnsealError` if the key or the blob is wrong."""
    if not is_sealed(blob):
        raise UnsealError("not a sealed WardWatch payload")
    nonce, body = blob[len(_MAGIC):len(_MAGIC) + 12], blob[len(_MAGIC) + 12:]
    try:
        return AESGCM(_key(secret)).decrypt(nonce, body, _MAGIC)
    except InvalidTag:
        raise UnsealError("the payload was sealed with another key (WARDWATCH_PSEUDONYM_SECRET)") from None
