"""The adapter conformance suite: abstract test classes every adapter's tests inherit.

An adapter's test module sets a few class attributes and inherits every check::

    from tests.adapters.conformance import AdapterConformance, Sample

    class TestPipeMonitor(AdapterConformance):
        adapter_class = PipeMonitor
        valid_samples = [Sample(b"MRN-42|07|72", [("MDC_ECG_HEART_RATE", 72.0, "/min")])]
        malformed_samples = [b"", b"MRN-42|07|seventy"]
        identifiers = ["MRN-42"]

What it checks (the rules in :mod:`wardwatch.streams.adapters.base`):

- round trip: each valid sample becomes exactly its expected records (or ``(signal, value, unit)``
  triples; for a waveform chunk the value is its first sample), with no problems, and each record
  survives the codec;
- units are canonical and signals are named by their MDC reference id;
- identifiers never leak: none of ``identifiers`` appears (case-insensitive) in the JSON of any
  record, in any problem's reason or in any dead letter's headers;
- bad input is data: each malformed sample raises SchemaValidationError or returns problems, and
  through an :class:`~wardwatch.streams.adapters.ingest.Ingestor` it is dead-lettered with its
  original bytes while nothing is raised;
- de-duplication: the same message twice is accepted once;
- fuzzing: thousands of malformed inputs (random bytes, random unicode, valid samples truncated,
  with tokens shuffled, duplicated, dropped or replaced, with bytes inserted or flipped, and, for
  JSON samples, with elements deleted, duplicated or retyped): ``parse`` raises nothing but
  SchemaValidationError, ``Ingestor.ingest`` raises nothing, and received == accepted messages +
  dead-lettered. ``ADAPTER_FUZZ_EXAMPLES`` (default 2000) or the class attribute
  ``fuzz_examples`` sets how many.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.adapters.base import Adapter, AdapterContext, ParseResult
from wardwatch.streams.adapters.ingest import Ingestor
from wardwatch.streams.codec import decode, encode
from wardwatch.streams.deadletter import DeadLetter, dead_letter_headers
from wardwatch.streams.sealing import SEAL_SCHEME, unseal
from wardwatch.streams.pseudonym import PSEUDONYM_PATTERN
from wardwatch.streams.records import Record, WaveformChunk
from wardwatch.streams.signals import lookup

__all__ = ["AdapterConformance", "Sample", "MemorySink", "CONFORMANCE_SECRET", "CONFORMANCE_NOW_NS", "fuzz_payloads"]

#: The pseudonym key and clock every conformance test's adapter gets.
CONFORMANCE_SECRET = b"conformance-secret-0123456789abcdef"
CONFORMANCE_NOW_NS = 1_790_000_000_000_000_000
FUZZ_EXAMPLES = int(os.environ.get("ADAPTER_FUZZ_EXAMPLES", "2000"))

Triple = tuple[str, float, str]


@dataclass(frozen=True)
class Sample:
    """A valid native message and what it must become: records, or (signal, value, unit) triples."""

    payload: bytes
    expected: Sequence[Record] | Sequence[Triple]
    note: str = ""


@dataclass
class MemorySink:
    """An in-memory :class:`~wardwatch.streams.adapters.ingest.RecordSink`."""

    records: list[Record] = field(default_factory=list)
    letters: list[tuple[bytes, bytes | None, DeadLetter]] = field(default_factory=list)

    async def send_records(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    async def dead_letter(self, payload: bytes, key: bytes | None, letter: DeadLetter) -> None:
        self.letters.append((payload, key, letter))


# --- fuzz strategies -----------------------------------------------------------------------------

_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False), st.text(max_size=20))
_JSON_VALUES = st.recursive(_JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, prefix + (i,))
    return found


@st.composite
def _json_mutation(draw: st.DrawFn, doc: Any) -> bytes:
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        op = draw(st.sampled_from(["delete", "replace", "duplicate", "stringify"]))
        if op == "delete":
            del parent[last]
        elif op == "replace":
            parent[last] = draw(_JSON_VALUES)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(last, json.loads(json.dumps(parent[last])))
        else:
            parent[last] = json.dumps(parent[last])[:50]
    return json.dumps(doc).encode()


@st.composite
def _mutated(draw: st.DrawFn, payloads: Sequence[bytes], separators: Sequence[bytes]) -> bytes:
    payload = draw(st.sampled_from(list(payloads)))
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    if doc is not None and draw(st.booleans()):
        return draw(_json_mutation(doc))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "insert", "delete", "flip", "shuffle", "duplicate", "drop", "replace", "unicode"]))
        n = len(payload)
        if op == "truncate":
            payload = payload[: draw(st.integers(0, n))]
        elif op == "insert":
            at = draw(st.integers(0, n))
            payload = payload[:at] + draw(st.binary(min_size=1, max_size=16)) + payload[at:]
        elif op == "delete" and n:
            at = draw(st.integers(0, n - 1))
            payload = payload[:at] + payload[at + draw(st.integers(1, 16)):]
        elif op == "flip" and n:
            at = draw(st.integers(0, n - 1))
            payload = payload[:at] + bytes([payload[at] ^ draw(st.integers(1, 255))]) + payload[at + 1:]
        elif op == "unicode":
            at = draw(st.integers(0, n))
            payload = payload[:at] + draw(st.text(min_size=1, max_size=8)).encode("utf-8", "surrogatepass") + payload[at:]
        elif op in ("shuffle", "duplicate", "drop", "replace") and separators:
            sep = draw(st.sampled_from(list(separators)))
            tokens = payload.split(sep)
            i = draw(st.integers(0, len(tokens) - 1))
            if op == "shuffle":
                tokens = draw(st.permutations(tokens))
            elif op == "duplicate":
                tokens.insert(i, tokens[i])
            elif op == "drop" and len(tokens) > 1:
                del tokens[i]
            elif op == "replace":
                tokens[i] = draw(st.text(max_size=12)).encode("utf-8", "surrogatepass")
            payload = sep.join(tokens)
    return payload


def fuzz_payloads(valid: Sequence[bytes], separators: Sequence[bytes] = ()) -> st.SearchStrategy[bytes]:
    """Malformed inputs: random bytes, random unicode, and mutations of the valid samples."""
    mutated = _mutated(valid, separators)
    return st.one_of(
        st.binary(max_size=512),
        st.text(max_size=256).map(lambda t: t.encode("utf-8", "surrogatepass")),
        mutated, mutated, mutated,
    )


# --- the suite -------------------------------------------------------------------------------------

def _run(coro: Any) -> Any:
    return asyncio.run(coro)


class AdapterConformance:
    """Inherit and set :attr:`adapter_class`, :attr:`valid_samples`, :attr:`malformed_samples` and
    :attr:`identifiers`; optionally :attr:`fuzz_separators` (token boundaries to shuffle)."""

    adapter_class: ClassVar[type[Adapter]]
    valid_samples: ClassVar[Sequence[Sample]] = ()
    malformed_samples: ClassVar[Sequence[bytes]] = ()
    identifiers: ClassVar[Sequence[str]] = ()
    fuzz_separators: ClassVar[Sequence[bytes]] = (b"\n", b",", b" ")
    fuzz_examples: ClassVar[int] = FUZZ_EXAMPLES
    ward: ClassVar[str] = "ward-c"

    def make_adapter(self) -> Adapter:
        context = AdapterContext(secret=CONFORMANCE_SECRET, ward=self.ward, clock=lambda: CONFORMANCE_NOW_NS)
        return self.adapter_class(context)

    def _leaks(self, text: str) -> list[str]:
        lowered = text.lower()
        return [i for i in self.identifiers if i.lower() in lowered]

    # -- declaration --------------------------------------------------------------------------
    def test_suite_is_configured(self) -> None:
        assert self.valid_samples, "set valid_samples"
        assert self.malformed_samples, "set malformed_samples"
        assert self.identifiers, "set identifiers: the patient names and record numbers in the samples"
        for sample in self.valid_samples:
            assert self._leaks(sample.payload.decode("utf-8", "replace")), f"no identifier of `identifiers` is in sample {sample.note!r}"

    def test_declares_name_and_summary(self) -> None:
        cls = self.adapter_class
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cls.name), f"name {cls.name!r} must be lowercase with dashes"
        assert cls.summary.strip(), "set a one-line summary"

    # -- round trip ----------------------------------------------------------------------------
    def test_round_trip(self) -> None:
        adapter = self.make_adapter()
        for sample in self.valid_samples:
            result = adapter.parse(sample.payload)
            assert isinstance(result, ParseResult)
            assert result.problems == [], f"{sample.note}: {result.problems}"
            expected = list(sample.expected)
            if expected and isinstance(expected[0], tuple):
                got = [(r.signal, float(r.values()[0]) if isinstance(r, WaveformChunk) else r.value, r.unit) for r in result.records]  # type: ignore[union-attr]
                assert len(got) == len(expected), f"{sample.note}: {got}"
                for (gs, gv, gu), (es, ev, eu) in zip(got, expected):  # type: ignore[misc]
                    assert (gs, gu) == (es, eu) and math.isclose(gv, ev, rel_tol=1e-5, abs_tol=1e-6), f"{sample.note}: got {(gs, gv, gu)}, expected {(es, ev, eu)}"
            else:
                assert result.records == expected, sample.note
            for record in result.records:
                assert decode(encode(record)) == record

    def test_units_are_canonical(self) -> None:
        adapter = self.make_adapter()
        for sample in self.valid_samples:
            for record in adapter.parse(sample.payload).records:
                signal = getattr(record, "signal", None)
                if signal is not None:
                    spec = lookup(signal)
                    assert signal == spec.code, f"{signal}: use the MDC reference id {spec.code}"
                    assert record.unit == spec.unit, f"{signal} in {record.unit!r}, canonical is {spec.unit!r}"  # type: ignore[union-attr]

    # -- privacy -------------------------------------------------------------------------------
    def test_identifiers_never_leak(self) -> None:
        adapter = self.make_adapter()
        for sample in self.valid_samples:
            for record in adapter.parse(sample.payload).records:
                assert re.match(PSEUDONYM_PATTERN, record.patient_ref)
                leaks = self._leaks(msgspec.json.encode(record).decode())
                assert not leaks, f"{sample.note}: {leaks} in {record}"
        sink = MemorySink()
        ingestor = Ingestor(adapter, sink, source="conformance")
        for payload in self.malformed_samples:
            _run(ingestor.ingest(payload))
        for value, _, letter in sink.letters:
            headers = " ".join(v.decode() for _, v in dead_letter_headers(letter))
            assert not self._leaks(headers), f"identifier in dead-letter headers: {headers}"
            assert not self._leaks(value.decode("utf-8", "replace")), "identifier readable in a dead-letter value"

    # -- bad input -----------------------------------------------------------------------------
    def test_malformed_raise_or_report(self) -> None:
        adapter = self.make_adapter()
        for payload in self.malformed_samples:
            try:
                result = adapter.parse(payload)
            except SchemaValidationError as exc:
                assert exc.field and exc.reason, payload
                continue
            assert result.problems, f"malformed sample accepted without a problem: {payload[:80]!r}"
            assert all(p.field and p.reason for p in result.problems)

    def test_malformed_are_dead_lettered(self) -> None:
        sink = MemorySink()
        ingestor = Ingestor(self.make_adapter(), sink, source="conformance")
        for payload in self.malformed_samples:
            outcome = _run(ingestor.ingest(payload))
            assert not outcome.ok
        # sealed on the topic; the original bytes, byte for byte, with the adapters' key
        assert all(letter.sealed == SEAL_SCHEME for _, _, letter in sink.letters)
        assert [unseal(p, CONFORMANCE_SECRET) for p, _, _ in sink.letters] == list(self.malformed_samples)
        assert all(letter.stage == f"adapter:{self.adapter_class.name}" and letter.reason for _, _, letter in sink.letters)
        assert all("internal error" not in letter.reason for _, _, letter in sink.letters)
        assert ingestor.counters.dead_lettered == ingestor.counters.received == len(self.malformed_samples)

    # -- de-duplication ------------------------------------------------------------------------
    def test_same_message_twice_is_accepted_once(self) -> None:
        for sample in self.valid_samples:
            sink = MemorySink()
            ingestor = Ingestor(self.make_adapter(), sink, source="conformance")
            first = _run(ingestor.ingest(sample.payload))
            second = _run(ingestor.ingest(sample.payload))
            assert first.accepted == len(sample.expected) > 0 and first.ok, sample.note
            assert second.accepted == 0 and second.duplicates == first.accepted and second.ok, sample.note
            assert len(sink.records) == first.accepted and not sink.letters

    # -- fuzz ----------------------------------------------------------------------------------
    def test_fuzz_nothing_escapes_and_accounting_holds(self) -> None:
        adapter = self.make_adapter()
        sink = MemorySink()
        ingestor = Ingestor(adapter, sink, source="fuzz")
        loop = asyncio.new_event_loop()
        ok_messages = 0

        @settings(max_examples=self.fuzz_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(fuzz_payloads([s.payload for s in self.valid_samples], self.fuzz_separators))
        def check(payload: bytes) -> None:
            nonlocal ok_messages
            try:
                adapter.parse(payload)
            except SchemaValidationError:
                pass
            letters_before = len(sink.letters)
            outcome = loop.run_until_complete(ingestor.ingest(payload))
            ok_messages += outcome.ok
            assert not [p for p in outcome.problems if p.reason.startswith("internal error")], outcome.problems
            if not outcome.ok:
                assert len(sink.letters) == letters_before + 1
                assert unseal(sink.letters[-1][0], CONFORMANCE_SECRET) == payload
            counters = ingestor.counters
            assert counters.received == ok_messages + counters.dead_lettered

        try:
            check()
        finally:
            loop.close()
        assert ingestor.counters.received >= min(self.fuzz_examples, 50)
