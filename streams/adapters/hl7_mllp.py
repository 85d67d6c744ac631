"""HL7 v2 ORU^R01 over MLLP: bedside monitors and interface engines (IHE PCD-01) into canonical records.

:class:`Hl7OruAdapter` (registry name ``hl7-oru``) reads one ORU^R01 message with python-hl7
(``hl7.parse``) and makes a :class:`~wardwatch.streams.records.NumericObservation` of each
numeric OBX and a :class:`~wardwatch.streams.records.WaveformChunk` of each waveform OBX:

============ ================================================================================
segment      what is used
============ ================================================================================
MSH          MSH-3/MSH-4 sending application/facility (MSH-3 is the device fallback; both
             become the ACK's receiver), MSH-7 message time (last time fallback), MSH-9 must be
             ORU^R01, MSH-10 control id (echoed in the ACK's MSA-2)
PID          PID-3, first identifier: pseudonymized, then dropped. Names (PID-5) are never read.
PV1          PV1-3 assigned location ``point of care^room^bed``: ward = point of care (else the
             context's ward), bed = ``room-bed`` (or whichever is given, else ``unknown``)
OBR          OBR-7 observation time, for the OBX that follow it
OBX          OBX-2 value type: ``NM`` numeric; ``NA`` (samples as components) or ``MA`` (one
             channel, samples as repetitions) waveform. OBX-3 the signal: an MDC code
             (``150456^MDC_PULS_OXIM_SAT_O2^MDC``), a numeric MDC code or LOINC
             (``8867-4^Heart rate^LN``). OBX-5 value, OBX-6 units (UCUM or ``MDC_DIM_*``),
             OBX-11 status (F, C, R accepted), OBX-14 observation time, OBX-18 equipment id.
============ ================================================================================

Waveforms follow the IHE PCD Waveform Content Module: the sample rate comes from an OBX
``0^MDC_ATTR_SAMP_RATE^MDC`` whose OBX-4 sub-id is the waveform's sub-id plus one level
(``1.1.1.1001`` → ``1.1.1.1001.1``), or, without sub-ids, the first sample-rate OBX after it;
units ``264608^MDC_DIM_PER_SEC^MDC``, ``/s`` or ``Hz``. OBX-14 is the time of the first sample.
Other ``MDC_ATTR_*`` OBX and device/channel header OBX (no value type, no value) describe the
structure and are skipped.

Times are HL7 DTM ``YYYYMMDDHHMM[SS[.S[S[S[S]]]]][+/-ZZZZ]`` (at least minutes); a time without
an offset is taken as UTC. An OBX without OBX-14 uses OBR-7, then MSH-7.

A bad OBX is a :class:`~wardwatch.streams.adapters.base.Problem` named ``OBX[n]-f`` (the n-th OBX
of the message, field f); the other OBX still go through. A message that cannot be read, or is
not an ORU^R01, raises :class:`~wardwatch.errors.SchemaValidationError`.

:class:`MllpListener` serves MLLP over asyncio with ``hl7.mllp`` and answers each message with an
ACK made by ``hl7.Message.create_ack``: AA when every OBX was accepted, AE with MSA-3 and an ERR
segment per problem when some or all OBX were rejected, AR when the message is not an ORU^R01,
cannot be parsed, or could not be stored. Rejected messages are dead-lettered by the
:class:`~wardwatch.streams.adapters.ingest.Ingestor`. Bytes outside MLLP framing are not a
message: they are answered with AR and counted (``framing_errors``), not dead-lettered.

>>> from wardwatch.streams.adapters.base import AdapterContext
>>> ctx = AdapterContext(secret=b"0123456789abcdef", ward="ward-a")
>>> msg = (b"MSH|^~\\\\&|MON|ICU|||20260301101500+0100||ORU^R01|42|P|2.6\\r"
...        b"PID|||MRN-1\\rPV1||I|ICU^12^B\\r"
...        b"OBX|1|NM|8867-4^Heart rate^LN||72|/min|||||F|||20260301101455+0100\\r")
>>> [(r.signal, r.value, r.ward, r.bed) for r in Hl7OruAdapter(ctx).parse(msg).records]
[('MDC_ECG_HEART_RATE', 72.0, 'ICU', '12-B')]
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import hl7
import hl7.mllp
from hl7.util import unescape as hl7_unescape
import numpy as np

from wardwatch.errors import SchemaValidationError, UnknownSignalError
from wardwatch.streams.adapters.base import Adapter, AdapterContext, ParseResult, Problem
from wardwatch.streams.adapters.ingest import Ingestor, IngestOutcome, RecordSink
from wardwatch.streams.records import NumericObservation, Record, WaveformChunk
from wardwatch.streams.signals import SignalSpec, lookup
from wardwatch.streams.units import to_canonical

__all__ = ["Hl7OruAdapter", "MllpListener", "build_ack", "ack_code", "hl7_time_ns", "start_listener"]

logger = logging.getLogger(__name__)

#: OBX-11 result statuses that carry a usable value (final, corrected, entered but unverified).
ACCEPTED_STATUS = frozenset({"F", "C", "R"})
_STATUS_MEANING = {"X": "results cannot be obtained", "D": "deletes the result", "W": "result was wrong",
                   "P": "preliminary", "I": "specimen in lab, no result", "N": "not asked", "S": "partial"}

# MDC unit reference ids and codes (IEEE 11073-10101 partition 4) → UCUM.
_MDC_UNITS = {
    "MDC_DIM_BEAT_PER_MIN": "/min", "264864": "/min", "MDC_DIM_RESP_PER_MIN": "/min", "264928": "/min",
    "MDC_DIM_PER_MIN": "/min", "MDC_DIM_PERCENT": "%", "262688": "%", "MDC_DIM_MMHG": "mm[Hg]", "266016": "mm[Hg]",
    "MDC_DIM_KILO_PASCAL": "kPa", "MDC_DIM_DEGC": "Cel", "268192": "Cel", "MDC_DIM_FAHR": "[degF]",
    "MDC_DIM_MILLI_VOLT": "mV", "266418": "mV", "MDC_DIM_MICRO_VOLT": "uV", "MDC_DIM_DIMLESS": "1", "262656": "1",
}
_PER_SECOND = frozenset({"MDC_DIM_PER_SEC", "264608", "/S", "1/S", "HZ", "S-1"})
_SAMPLE_RATE = "MDC_ATTR_SAMP_RATE"
_NM = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
_DTM = re.compile(r"^(\d{12}(?:\d{2}(?:\.\d{1,4})?)?)([+-])(\d{2})(\d{2})$|^(\d{12}(?:\d{2}(?:\.\d{1,4})?)?)$")
_IDENT_BAD = re.compile(r"[^A-Za-z0-9._:-]+")
_LOCATION = re.compile(r"^([A-Z0-9]{3})(?:\[(\d+)\])?-(\d+)$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def hl7_time_ns(value: str) -> int:
    """An HL7 DTM (``YYYYMMDDHHMM[SS[.SSSS]][+/-ZZZZ]``) as UTC epoch nanoseconds.

    A time without an offset is taken as UTC. Raises :class:`ValueError` when ``value`` is not a
    DTM of at least minute precision.

    >>> hl7_time_ns("20260301101455+0100") == hl7_time_ns("20260301091455")
    True
    """
    match = _DTM.match(value.strip())
    if not match:
        raise ValueError("not an HL7 DTM of at least minute precision (YYYYMMDDHHMM[SS[.SSSS]][+/-ZZZZ])")
    naive = hl7.parse_datetime(match.group(1) or match.group(5)).replace(tzinfo=None)
    offset = dt.timedelta(0)
    if match.group(2):
        minutes = int(match.group(3)) * 60 + int(match.group(4))
        offset = dt.timedelta(minutes=-minutes if match.group(2) == "-" else minutes)
    when = naive.replace(tzinfo=dt.timezone(offset))
    return (when - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def _get(segment: hl7.Segment, field: int, component: int = 1, repetition: int = 1) -> str:
    """One value of a parsed segment (first sub-component), unescaped; empty when absent.

    Reads python-hl7's containers directly (as ``Segment.extract_field`` does, at a fraction of its
    cost): field ``n`` is ``segment[n]``, also for MSH, whose ``segment[1]`` is the field separator.
    """
    if not 0 < field < len(segment):
        return ""
    value = segment[field]
    if isinstance(value, hl7.Field):
        if repetition > len(value):
            return ""
        value = value[repetition - 1]
    elif repetition != 1:
        return ""
    if isinstance(value, hl7.Repetition):
        if component > len(value):
            return ""
        value = value[component - 1]
    elif component != 1:
        return ""
    if isinstance(value, hl7.Component):
        value = value[0] if value else ""
    text = value if isinstance(value, str) else str(value)
    if segment.esc in text:
        text = hl7_unescape(segment, text)
    return text.strip()


def _grid(segment: hl7.Segment, field: int) -> list[list[str]]:
    """A field's repetitions, each as its list of components (raw text)."""
    if field >= len(segment):
        return []
    return [[str(c) for c in rep] if isinstance(rep, hl7.Repetition) else [str(rep)] for rep in segment[field]]


def _ident(text: str, fallback: str) -> str:
    cleaned = _IDENT_BAD.sub("-", text).strip("-")[:64]
    return cleaned or fallback


def _segment_id(segment: hl7.Segment) -> str:
    try:
        return str(segment[0]).strip()
    except (IndexError, TypeError):
        return ""


@dataclass
class _Obx:
    """One OBX with what it inherits from the segments before it."""

    n: int
    segment: hl7.Segment
    patient_ref: str
    ward: str
    bed: str
    fallback_time: str
    fallback_field: str

    def __post_init__(self) -> None:
        self.value_type = _get(self.segment, 2).upper()
        self.sub_id = _get(self.segment, 4)
        self.codes = [c for c in (_get(self.segment, 3, 1), _get(self.segment, 3, 2)) if c]

    def field(self, number: int) -> str:
        return f"OBX[{self.n}]-{number}"


class Hl7OruAdapter(Adapter):
    """HL7 v2 ORU^R01 (numerics and IHE PCD waveforms) into numeric observations and waveform chunks."""

    name = "hl7-oru"
    summary = "HL7 v2 ORU^R01 over MLLP (IHE PCD-01 numerics and waveforms)"

    def parse(self, payload: bytes) -> ParseResult:
        message = _parse_message(payload)
        msh = message[0]
        kind = (_get(msh, 9, 1), _get(msh, 9, 2))
        if kind != ("ORU", "R01"):
            shown = "^".join(k for k in kind if k)[:20] or "(empty)"
            raise SchemaValidationError("MSH-9", f"message type {shown!r} is not ORU^R01; this adapter reads ORU^R01 only")
        device = _ident(_get(msh, 3), "unknown")
        observations = list(self._walk(message, _get(msh, 7)))
        rates = self._sample_rates(observations)
        result = ParseResult()
        for obx in observations:
            try:
                record = self._record(obx, device, rates)
            except SchemaValidationError as exc:
                result.problems.append(Problem(exc.field, exc.reason))
                continue
            if record is not None:
                result.records.append(record)
        return result

    def _walk(self, message: hl7.Message, msh_time: str) -> Iterator[_Obx]:
        patient_ref = ""
        ward, bed = self.context.ward, "unknown"
        time, time_field = msh_time, "MSH-7"
        n = 0
        for segment in message[1:]:
            sid = _segment_id(segment)
            if sid == "PID":
                identifier = _get(segment, 3, 1)
                if not identifier:
                    raise SchemaValidationError("PID-3", "patient identifier list is empty: no identifier to pseudonymize")
                patient_ref = self.context.pseudonymize(identifier)
                ward, bed, time, time_field = self.context.ward, "unknown", msh_time, "MSH-7"
            elif sid == "PV1":
                room, spot = _get(segment, 3, 2), _get(segment, 3, 3)
                ward = _ident(_get(segment, 3, 1), self.context.ward)
                bed = _ident("-".join(p for p in (room, spot) if p), "unknown")
            elif sid == "OBR":
                if _get(segment, 7):
                    time, time_field = _get(segment, 7), "OBR-7"
            elif sid == "OBX":
                n += 1
                yield _Obx(n, segment, patient_ref, ward, bed, time, time_field)
        if not patient_ref:
            raise SchemaValidationError("PID-3", "no PID segment with a patient identifier")

    @staticmethod
    def _sample_rates(observations: list[_Obx]) -> dict[int, _Obx]:
        """Waveform OBX number → its MDC_ATTR_SAMP_RATE OBX."""
        rates: dict[int, _Obx] = {}
        by_sub_id: dict[str, int] = {}
        last_wave = 0
        for obx in observations:
            if obx.value_type in ("NA", "MA"):
                last_wave = obx.n
                if obx.sub_id:
                    by_sub_id[obx.sub_id] = obx.n
            elif _SAMPLE_RATE in obx.codes:
                parent = obx.sub_id.rpartition(".")[0]
                target = by_sub_id.get(parent) if obx.sub_id else last_wave
                if target:
                    rates[target] = obx
        return rates

    def _record(self, obx: _Obx, device: str, rates: dict[int, _Obx]) -> Record | None:
        segment = obx.segment
        value_type = obx.value_type
        if not value_type and not _get(segment, 5):
            return None  # a device, channel or group header: structure, not an observation
        if any(code.startswith("MDC_ATTR_") for code in obx.codes):
            return None  # waveform attributes (sample rate, resolution, range) describe another OBX
        status = _get(segment, 11).upper()
        if status not in ACCEPTED_STATUS:
            meaning = _STATUS_MEANING.get(status, "missing" if not status else "not a usable status")
            raise SchemaValidationError(obx.field(11), f"result status {status!r} ({meaning}); only F, C and R carry a usable value")
        if value_type not in ("NM", "NA", "MA"):
            raise SchemaValidationError(obx.field(2), f"value type {value_type[:8]!r} is not supported (NM numerics; NA or MA waveforms)")
        if not obx.patient_ref:
            raise SchemaValidationError(obx.field(1), "OBX before any PID segment: no patient")
        spec = self._signal(obx)
        time_text, time_field = _get(segment, 14), obx.field(14)
        if not time_text:
            time_text, time_field = obx.fallback_time, obx.fallback_field
        if not time_text:
            raise SchemaValidationError(obx.field(14), "no observation time in OBX-14, OBR-7 or MSH-7")
        try:
            when = hl7_time_ns(time_text)
        except ValueError as exc:
            raise SchemaValidationError(time_field, str(exc)) from None
        common = dict(patient_ref=obx.patient_ref, ward=obx.ward, bed=obx.bed,
                      device_id=_ident(_get(segment, 18, 1), device), signal=spec.code, unit=spec.unit)
        try:
            if value_type == "NM":
                if spec.kind != "numeric":
                    raise SchemaValidationError(obx.field(2), f"{spec.code} is a waveform; send it as NA or MA")
                value = self._canonical(obx, spec, _number(_get(segment, 5), obx.field(5)))
                return NumericObservation(timestamp_ns=when, value=value, **common)
            if spec.kind != "waveform":
                raise SchemaValidationError(obx.field(2), f"{spec.code} is a numeric; send it as NM")
            samples = self._samples(obx, value_type)
            scale = self._canonical(obx, spec, 1.0) - self._canonical(obx, spec, 0.0)
            shift = self._canonical(obx, spec, 0.0)
            return WaveformChunk.from_array((samples * scale + shift).astype(np.float32),
                                            fs_hz=self._rate(obx, rates), start_ns=when, **common)
        except SchemaValidationError as exc:
            if exc.field.startswith("$"):  # a record check: name the HL7 field it came from
                field = {"$.value": 5, "$.samples": 5, "$.timestamp_ns": 14, "$.start_ns": 14}.get(exc.field)
                raise SchemaValidationError(obx.field(field) if field else f"OBX[{obx.n}]", exc.reason) from None
            raise

    @staticmethod
    def _signal(obx: _Obx) -> SignalSpec:
        for code in obx.codes:
            try:
                return lookup(code)
            except UnknownSignalError:
                continue
        shown = "^".join(obx.codes)[:60] or "(empty)"
        raise SchemaValidationError(obx.field(3), f"observation {shown!r} is not a signal WardWatch knows (MDC reference id, MDC code or LOINC code)")

    @staticmethod
    def _canonical(obx: _Obx, spec: SignalSpec, value: float) -> float:
        candidates = [c for c in (_get(obx.segment, 6, 1), _get(obx.segment, 6, 2)) if c]
        if not candidates:
            if spec.unit == "1":
                return value
            raise SchemaValidationError(obx.field(6), f"units are missing; {spec.code} is carried in {spec.unit!r}")
        reason = ""
        for unit in candidates:
            try:
                return to_canonical(spec.code, value, _MDC_UNITS.get(unit.upper(), unit))
            except SchemaValidationError as exc:
                reason = reason or exc.reason
        raise SchemaValidationError(obx.field(6), reason)

    @staticmethod
    def _samples(obx: _Obx, value_type: str) -> np.ndarray:
        grid = _grid(obx.segment, 5)
        if value_type == "NA":
            if len(grid) != 1:
                raise SchemaValidationError(obx.field(5), "NA with several channels (repetitions) is not supported: send one OBX per channel")
            texts = grid[0]
        else:
            if any(len(rep) != 1 for rep in grid):
                raise SchemaValidationError(obx.field(5), "MA with several channels (components) is not supported: send one OBX per channel")
            texts = [rep[0] for rep in grid]
        if not texts or texts == [""]:
            raise SchemaValidationError(obx.field(5), "the waveform has no samples")
        return np.array([_number(t, obx.field(5)) for t in texts], dtype=np.float64)

    @staticmethod
    def _rate(obx: _Obx, rates: dict[int, _Obx]) -> float:
        if obx.n not in rates:
            raise SchemaValidationError(obx.field(4), f"no {_SAMPLE_RATE} OBX for this waveform (sub-id one level below it, or after it without sub-ids)")
        attr = rates[obx.n]
        units = [u for u in (_get(attr.segment, 6, 1), _get(attr.segment, 6, 2)) if u]
        if not any(u.upper() in _PER_SECOND for u in units):
            raise SchemaValidationError(attr.field(6), f"sample rate unit {'^'.join(units)[:30]!r} is not per second (MDC_DIM_PER_SEC, /s or Hz)")
        rate = _number(_get(attr.segment, 5), attr.field(5))
        if not 0 < rate <= 10_000:
            raise SchemaValidationError(attr.field(5), f"sample rate {rate:g} Hz is outside 0-10000 Hz")
        return rate


def _number(text: str, field: str) -> float:
    if not _NM.match(text):
        raise SchemaValidationError(field, f"{text[:20]!r} is not an HL7 NM number" if text else "no value")
    return float(text)


def _parse_message(payload: bytes) -> hl7.Message:
    """Parse one HL7 v2 message with python-hl7; raise SchemaValidationError("$") if it is not one."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = payload.decode("latin-1")
    # Segments end with CR; interfaces often send LF or CRLF instead.
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip()
    if not text.startswith("MSH") or len(text) < 8 or text[3] in "\r" or text[3].isalnum():
        raise SchemaValidationError("$", "not an HL7 v2 message: it must begin with an MSH segment and its separators")
    try:
        message = hl7.parse(text)
        if not isinstance(message, hl7.Message) or _segment_id(message[0]) != "MSH":
            raise ValueError("no MSH")
    except Exception as exc:  # python-hl7 raises several kinds on malformed text
        raise SchemaValidationError("$", f"python-hl7 cannot parse the message ({type(exc).__name__})") from None
    return message


# --- acknowledgements -------------------------------------------------------------------------

# HL7 table 0357 (message error condition codes) for each kind of problem.
_ERROR_CODES = {"MSH-9": ("200", "Unsupported message type"), "PID-3": ("101", "Required field missing"),
                "2": ("103", "Table value not found"), "3": ("103", "Table value not found"),
                "6": ("103", "Table value not found"), "11": ("103", "Table value not found"),
                "4": ("101", "Required field missing")}
_DATA_TYPE_ERROR = ("102", "Data type error")
_INTERNAL_ERROR = ("207", "Application internal error")


def ack_code(outcome: IngestOutcome) -> str:
    """AA when nothing was rejected; AR when the whole message was (unreadable, not ORU^R01); else AE."""
    if not outcome.problems:
        return "AA"
    if any(p.field in ("$", "MSH-9") for p in outcome.problems):
        return "AR"
    return "AE"


def _source_message(payload: bytes) -> hl7.Message:
    try:
        message = _parse_message(payload)
        message.create_ack()  # python-hl7 needs MSH-9 with components and MSH-12 present
        return message
    except Exception:
        control_id = ""
        with contextlib.suppress(Exception):
            control_id = _ident(_get(_parse_message(payload)[0], 10), "")[:20]
        return hl7.parse(f"MSH|^~\\&|||||||ORU^R01|{control_id}|P|2.6")


def build_ack(payload: bytes, outcome: IngestOutcome | None, failure: str = "", application: str = "WARDWATCH") -> hl7.Message:
    """The ACK for ``payload``: built by ``hl7.Message.create_ack`` from the message's MSH.

    ``failure`` (the message could not be framed or stored) gives AR with ERR code 207.
    """
    source = _source_message(payload)
    if failure or outcome is None:
        code, problems = "AR", [Problem("$", failure or "the message could not be processed")]
    else:
        code, problems = ack_code(outcome), list(outcome.problems)
    ack = source.create_ack(code, application=application)
    if problems:
        ack.segment("MSA").assign_field(ack.escape(problems[0].reason[:80]), 3)
    for problem in problems[:50]:
        err = ack.create_segment([ack.create_field(["ERR"])])
        location = _LOCATION.match(problem.field)
        if location:
            seg, seq, number = location.group(1), location.group(2) or "1", location.group(3)
            for i, part in enumerate((seg, seq, number), 1):
                err.assign_field(part, 2, 1, i)
            error = _ERROR_CODES.get(problem.field) or _ERROR_CODES.get(number, _DATA_TYPE_ERROR)
        else:
            error = _INTERNAL_ERROR if failure or "internal error" in problem.reason else _DATA_TYPE_ERROR
        for i, part in enumerate((error[0], error[1], "HL70357"), 1):
            err.assign_field(part, 3, 1, i)
        err.assign_field("E", 4)
        err.assign_field(ack.escape(f"{problem.field}: {problem.reason}"[:500]), 8)
        ack.append(err)
    return ack


# --- the MLLP listener ------------------------------------------------------------------------

class MllpListener:
    """An asyncio MLLP server (python-hl7's ``hl7.mllp``) that ingests each message and ACKs it.

    It never dies on bad input: every frame gets an ACK, and a connection that breaks only ends
    that connection.
    """

    def __init__(self, ingestor: Ingestor, application: str = "WARDWATCH", max_message_bytes: int = 4 * 1024 * 1024) -> None:
        self.ingestor = ingestor
        self.application = application
        self.max_message_bytes = max_message_bytes
        self.connections = 0
        self.framing_errors = 0
        self.store_failures = 0
        self._server: asyncio.base_events.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 2575) -> None:
        self._server = await hl7.mllp.start_hl7_server(self._serve_client, host, port, limit=self.max_message_bytes, encoding="utf-8")

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    def counters(self) -> dict[str, object]:
        return {**self.ingestor.counters.as_dict(), "connections": self.connections,
                "framing_errors": self.framing_errors, "store_failures": self.store_failures}

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def handle(self, payload: bytes) -> hl7.Message:
        """Ingest one message; return its ACK."""
        try:
            outcome = await self.ingestor.ingest(payload)
        except Exception as exc:  # the sink failed: the sender must send it again
            self.store_failures += 1
            logger.error("could not store an HL7 message (%s: %s)", type(exc).__name__, exc)
            return build_ack(payload, None, f"WardWatch could not store the message ({type(exc).__name__}); send it again", self.application)
        return build_ack(payload, outcome, application=self.application)

    async def _serve_client(self, reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        self.connections += 1
        try:
            while True:
                try:
                    block = await reader.readblock()
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        self.framing_errors += 1
                        logger.warning("MLLP peer closed in the middle of a frame (%d bytes discarded)", len(exc.partial))
                    break
                except (hl7.mllp.InvalidBlockError, ValueError) as exc:
                    self.framing_errors += 1
                    logger.warning("MLLP framing error: %s", exc)
                    writer.writemessage(build_ack(b"", None, f"MLLP framing error: {exc}", self.application))
                    await writer.drain()
                    continue
                writer.writemessage(await self.handle(block))
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            logger.info("MLLP connection ended: %s", exc)
        except asyncio.CancelledError:
            pass
        except Exception:  # never let one connection take the listener down
            logger.exception("MLLP connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._clients.discard(task)


async def start_listener(context: AdapterContext, sink: RecordSink, host: str = "127.0.0.1", port: int = 2575) -> MllpListener:
    """Start an MLLP listener feeding :class:`Hl7OruAdapter` through an :class:`Ingestor` into ``sink``."""
    listener = MllpListener(Ingestor(Hl7OruAdapter(context), sink, source="hl7-mllp"))
    await listener.start(host, port)
    return listener
