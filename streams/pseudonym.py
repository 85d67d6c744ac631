"""Keyed pseudonyms: patient identifiers never pass the adapters.

An adapter turns a hospital identifier (record number, name, device-bound id) into a pseudonymous
reference with an HMAC-SHA256 keyed by ``WARDWATCH_PSEUDONYM_SECRET``. The same identifier and key
always give the same reference, so one patient's streams meet; without the key the reference
cannot be turned back. The mapping back lives only where the hospital keeps its key and index.

>>> pseudonymize("MRN-000123", b"0123456789abcdef")
'p-...'
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["pseudonymize", "PSEUDONYM_PATTERN"]

#: What a pseudonymous reference looks like: ``p-`` and 20 hex digits (80 bits).
PSEUDONYM_PATTERN = r"^p-[0-9a-f]{20}$"


def pseudonymize(identifier: str, secret: bytes) -> str:
    """Return the pseudonymous reference of ``identifier`` under ``secret``."""
    if len(secret) < 16:
        raise ValueError("the pseudonym secret must be at least 16 bytes")
    normalized = " ".join(identifier.split()).upper()
    if not normalized:
        raise ValueError("empty identifier")
    digest = hmac.new(secret, normalized.encode("utf-8"), hashlib.sha256).hexdigest()
    return "p-" + digest[:20]
