"""The adapter contract: native device messages in, canonical records out.

An adapter turns one native message (an HL7 v2 ORU^R01, a FHIR Observation, a wearable's MQTT
JSON, a chunk of a WFDB record) into canonical records (:mod:`wardwatch.streams.records`). It is
pure: it parses, maps codes and units, and pseudonymizes identifiers; it does no I/O. Everything
around it — de-duplication, counters, sending to Kafka, dead-lettering — is done once for every
adapter by :class:`~wardwatch.streams.adapters.ingest.Ingestor`.

Rules every adapter keeps (the conformance suite in ``tests/adapters`` checks them):

1. Identifiers never leave: names, record numbers and device-bound patient ids are passed through
   :meth:`AdapterContext.pseudonymize` and then dropped.
2. Units are canonical: use :func:`wardwatch.streams.units.to_canonical`.
3. Bad input is data: a message that cannot be read raises
   :class:`~wardwatch.errors.SchemaValidationError` naming the field and the reason; a message
   partly readable returns the good records and a :class:`Problem` for each bad part. Nothing
   else may escape :meth:`Adapter.parse`.

A worked example — a bedside monitor that sends ``"MRN|BED|HR"`` lines:

>>> from wardwatch.streams.adapters.base import Adapter, AdapterContext, ParseResult
>>> from wardwatch.streams.records import NumericObservation
>>> from wardwatch.streams.units import to_canonical
>>> from wardwatch.errors import SchemaValidationError
>>> class PipeMonitor(Adapter):
...     name = "pipe-monitor"
...     summary = "MRN|BED|HR lines from a toy monitor"
...     def parse(self, payload: bytes) -> ParseResult:
...         try:
...             mrn, bed, hr = payload.decode("ascii").strip().split("|")
...             value = float(hr)
...         except ValueError:
...             raise SchemaValidationError("$", "expected MRN|BED|HR with a number for HR") from None
...         record = NumericObservation(
...             patient_ref=self.context.pseudonymize(mrn), ward=self.context.ward, bed=bed,
...             device_id="pipe-1", signal="MDC_ECG_HEART_RATE", unit="/min",
...             timestamp_ns=self.context.now_ns(),
...             value=to_canonical("MDC_ECG_HEART_RATE", value, "/min"))
...         return ParseResult([record])
>>> ctx = AdapterContext(secret=b"0123456789abcdef", ward="ward-a", clock=lambda: 1_790_000_000_000_000_000)
>>> result = PipeMonitor(ctx).parse(b"MRN-42|07|72")
>>> result.records[0].value, result.records[0].patient_ref.startswith("p-"), result.problems
(72.0, True, [])
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import Record

__all__ = ["Adapter", "AdapterContext", "ParseResult", "Problem"]


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter may use: the pseudonym key, the default ward, a clock."""

    secret: bytes
    ward: str = "ward-a"
    clock: Callable[[], int] = time.time_ns

    def pseudonymize(self, identifier: str) -> str:
        """The pseudonymous reference of a patient identifier (HMAC keyed by the secret)."""
        return pseudonymize(identifier, self.secret)

    def now_ns(self) -> int:
        return self.clock()


@dataclass(frozen=True)
class Problem:
    """One part of a native message that could not become a canonical record."""

    field: str
    reason: str


@dataclass
class ParseResult:
    """The canonical records a native message became, and what could not be used."""

    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class Adapter(abc.ABC):
    """Base class of every adapter. Subclasses set :attr:`name` and :attr:`summary`, implement
    :meth:`parse`, and live in a module of their own."""

    #: Registry name (``wardwatch adapters list``), lowercase with dashes.
    name: ClassVar[str]
    #: One line for ``wardwatch adapters list``.
    summary: ClassVar[str] = ""

    def __init__(self, context: AdapterContext) -> None:
        self.context = context

    @abc.abstractmethod
    def parse(self, payload: bytes) -> ParseResult:
        """Turn one native message into canonical records.

        Raises :class:`~wardwatch.errors.SchemaValidationError` when nothing in the message can be
        used; returns records and :class:`Problem`\\ s when only parts are bad.
        """
