"""Canonical records: the contract every adapter targets and every agent reads.

Five record types travel on WardWatch's topics: :class:`NumericObservation`,
:class:`WaveformChunk`, :class:`ChartedEvent`, :class:`Alert` and :class:`AlertNote`. They are
immutable :mod:`msgspec` structs, tagged by a ``type`` field so one decoder reads any of them.
Constructing one validates it: a bad field raises
:class:`~wardwatch.errors.SchemaValidationError` naming the field (``$.value``) and the reason.

Timestamps are UTC epoch nanoseconds. ``patient_ref`` is always the pseudonymous reference made
by :func:`wardwatch.streams.pseudonym.pseudonymize`, never a name or a record number.

>>> obs = NumericObservation(patient_ref="p-0123456789abcdef0123", ward="ward-a", bed="01",
...     device_id="sim-01", signal="MDC_ECG_HEART_RATE", unit="/min",
...     timestamp_ns=1_790_000_000_000_000_000, value=72.0)
>>> obs.value
72.0
"""

from __future__ import annotations

import hashlib
import math
from typing import Annotated, Literal, Union

import msgspec
import numpy as np

from wardwatch.errors import SchemaValidationError, UnknownSignalError
from wardwatch.streams.signals import lookup

__all__ = [
    "QualityFlag",
    "NumericObservation",
    "WaveformChunk",
    "ChartedEvent",
    "Evidence",
    "Alert",
    "AlertNote",
    "Features",
    "AlarmAck",
    "Record",
    "alert_id",
    "MIN_TIMESTAMP_NS",
    "MAX_TIMESTAMP_NS",
]

#: 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z: a timestamp outside is in the wrong unit.
MIN_TIMESTAMP_NS = 946_684_800_000_000_000
MAX_TIMESTAMP_NS = 4_102_444_800_000_000_000

Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
PatientRef = Annotated[str, msgspec.Meta(pattern=r"^p-[0-9a-f]{20}$")]
TimestampNs = int

#: Quality flags a device or an agent may set on a value.
#: ``battery_low``: the sending device's battery is below its low threshold (a technical-alarm cue).
QualityFlag = Literal["artifact", "questionable", "calibrating", "probe_off", "lead_off", "low_perfusion", "motion", "manual", "battery_low"]


def _check_time(field: str, value: int) -> None:
    if not MIN_TIMESTAMP_NS <= value < MAX_TIMESTAMP_NS:
        raise SchemaValidationError(
            field,
            f"{value} is not UTC epoch nanoseconds between 2000 and 2100 (seconds or milliseconds given?)",
        )


def _check_signal(signal: str, unit: str, kind: str) -> None:
    try:
        spec = lookup(signal)
    except UnknownSignalError as exc:
        raise SchemaValidationError("$.signal", str(exc)) from None
    if spec.code != signal:
        raise SchemaValidationError("$.signal", f"use the MDC reference id {spec.code!r}, not the alias {signal!r}")
    if spec.kind != kind:
        raise SchemaValidationError("$.signal", f"{signal} is a {spec.kind} signal, not a {kind} one")
    if unit != spec.unit:
        raise SchemaValidationError("$.unit", f"{signal} is carried in {spec.unit!r} (UCUM), not {unit!r}")


class _Base(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class NumericObservation(_Base, tag="numeric", kw_only=True):
    """One numeric value of one signal of one patient at one time."""

    patient_ref: PatientRef
    ward: Ident
    bed: Ident
    device_id: Ident
    signal: str
    unit: str
    timestamp_ns: TimestampNs
    value: float
    quality: tuple[QualityFlag, ...] = ()

    def __post_init__(self) -> None:
        _check_signal(self.signal, self.unit, "numeric")
        _check_time("$.timestamp_ns", self.timestamp_ns)
        if not math.isfinite(self.value):
            raise SchemaValidationError("$.value", f"{self.value} is not a finite number")
        spec = lookup(self.signal)
        if not spec.plausible(self.value):
            raise SchemaValidationError(
                "$.value",
                f"{self.value} {spec.unit} is outside the plausible range {spec.low:g}-{spec.high:g} {spec.unit} of {self.signal}",
            )


class WaveformChunk(_Base, tag="waveform", kw_only=True):
    """About one second of one sampled signal.

    ``samples`` holds little-endian ``int16`` (physical = (raw - offset) / gain, as in WFDB) or
    ``float32`` (physical already; gain 1, offset 0). Use :meth:`from_array` and :meth:`values`.
    """

    patient_ref: PatientRef
    ward: Ident
    bed: Ident
    device_id: Ident
    signal: str
    unit: str
    fs_hz: Annotated[float, msgspec.Meta(gt=0, le=10_000)]
    start_ns: TimestampNs
    dtype: Literal["int16", "float32"]
    samples: bytes
    gain: float = 1.0
    offset: float = 0.0
    quality: tuple[QualityFlag, ...] = ()

    def __post_init__(self) -> None:
        _check_signal(self.signal, self.unit, "waveform")
        _check_time("$.start_ns", self.start_ns)
        width = 2 if self.dtype == "int16" else 4
        if not self.samples or len(self.samples) % width:
            raise SchemaValidationError("$.samples", f"{len(self.samples)} bytes is not a whole, non-empty number of {self.dtype} samples")
        if len(self.samples) // width > self.fs_hz * 10 + 1:
            raise SchemaValidationError("$.samples", "a chunk carries at most 10 s of signal")
        if not math.isfinite(self.gain) or self.gain == 0:
            raise SchemaValidationError("$.gain", f"{self.gain} must be finite and non-zero")
        if not math.isfinite(self.offset):
            raise SchemaValidationError("$.offset", f"{self.offset} must be finite")
        if self.dtype == "float32" and (self.gain != 1.0 or self.offset != 0.0):
            raise SchemaValidationError("$.gain", "float32 samples are physical values: gain must be 1 and offset 0")

    @property
    def n_samples(self) -> int:
        return len(self.samples) // (2 if self.dtype == "int16" else 4)

    @property
    def end_ns(self) -> int:
        """Timestamp one sample period after the last sample."""
        return self.start_ns + round(self.n_samples * 1e9 / self.fs_hz)

    def values(self) -> np.ndarray:
        """Samples in physical units (``unit``), float32."""
        if self.dtype == "float32":
            return np.frombuffer(self.samples, dtype="<f4").copy()
        raw = np.frombuffer(self.samples, dtype="<i2").astype(np.float32)
        return (raw - np.float32(self.offset)) / np.float32(self.gain)

    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        *,
        gain: float | None = None,
        offset: float = 0.0,
        **fields: object,
    ) -> "WaveformChunk":
        """Build a chunk from physical values; with ``gain`` they are stored as int16."""
        if gain is None:
            return cls(dtype="float32", samples=np.asarray(array, dtype="<f4").tobytes(), **fields)  # type: ignore[arg-type]
        raw = np.rint(np.asarray(array, dtype=np.float64) * gain + offset)
        if raw.size and (raw.min() < -32768 or raw.max() > 32767):
            raise SchemaValidationError("$.samples", "values overflow int16 with this gain and offset")
        return cls(dtype="int16", samples=raw.astype("<i2").tobytes(), gain=gain, offset=offset, **fields)  # type: ignore[arg-type]


#: Charted events and the values each allows (``None``: no value).
CHARTED_EVENTS: dict[str, frozenset[str] | None] = {
    "supplemental_oxygen": frozenset({"on", "off"}),
    "consciousness": frozenset({"A", "C", "V", "P", "U"}),  # ACVPU; C = new confusion
    "spo2_scale": frozenset({"1", "2"}),  # NEWS2 SpO2 scale 2: hypercapnic respiratory failure
    "admit": None,
    "discharge": None,
    "transfer": None,
}


class ChartedEvent(_Base, tag="event", kw_only=True):
    """Something a nurse records or an EHR sends (oxygen on/off, ACVPU, SpO2 scale, ADT)."""

    patient_ref: PatientRef
    ward: Ident
    bed: Ident
    source: Ident
    timestamp_ns: TimestampNs
    event: Literal["supplemental_oxygen", "consciousness", "spo2_scale", "admit", "discharge", "transfer"]
    value: str = ""

    def __post_init__(self) -> None:
        _check_time("$.timestamp_ns", self.timestamp_ns)
        allowed = CHARTED_EVENTS[self.event]
        if allowed is not None and self.value not in allowed:
            raise SchemaValidationError("$.value", f"{self.value!r} is not one of {sorted(allowed)} for {self.event}")


class Evidence(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """What an alert rests on: values, thresholds, scores, signal quality, a waveform snippet."""

    values: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    scores: dict[str, float] = {}
    signal_quality: float | None = None
    snippet: WaveformChunk | None = None


def alert_id(patient_ref: str, source: str, onset_ns: int) -> str:
    """Deterministic alert id: the same onset of the same rule for the same patient gives the same id."""
    digest = hashlib.sha256(f"{patient_ref}|{source}|{onset_ns}".encode()).hexdigest()
    return f"a-{digest[:24]}"


class Alert(_Base, tag="alert", kw_only=True):
    """An alarm, with its IEC 60601-1-8 priority and kind."""

    alert_id: str
    patient_ref: PatientRef
    ward: Ident
    bed: Ident
    kind: Literal["physiological", "technical"]
    priority: Literal["high", "medium", "low"]
    source: Ident
    onset_ns: TimestampNs
    updated_ns: TimestampNs
    state: Literal["active", "acknowledged", "resolved", "escalated"]
    message: Annotated[str, msgspec.Meta(max_length=500)] = ""
    evidence: Evidence = Evidence()
    notified: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_time("$.onset_ns", self.onset_ns)
        _check_time("$.updated_ns", self.updated_ns)
        if self.updated_ns < self.onset_ns:
            raise SchemaValidationError("$.updated_ns", "is before onset_ns")
        expected = alert_id(self.patient_ref, self.source, self.onset_ns)
        if self.alert_id != expected:
            raise SchemaValidationError("$.alert_id", f"must be alert_id(patient_ref, source, onset_ns) = {expected}")


class AlertNote(_Base, tag="note", kw_only=True):
    """A clinician-readable note about one alert, with the facts it was built from."""

    alert_id: Annotated[str, msgspec.Meta(pattern=r"^a-[0-9a-f]{24}$")]
    patient_ref: PatientRef
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    facts: dict[str, str | float] = {}
    backend: Literal["template", "transformers", "openai"] = "template"
    verified: bool = False
    rejection: str = ""
    latency_ms: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    created_ns: TimestampNs

    def __post_init__(self) -> None:
        _check_time("$.created_ns", self.created_ns)


FeatureName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_.]{1,64}$")]


class Features(_Base, tag="features", kw_only=True):
    """Values the pipeline derived for one patient at one time: a NEWS2 evaluation, a trend, a
    heart rate and signal quality from a waveform. ``source`` names what computed them
    (``news2``, ``trends``, ``ecg``, ...); ``values`` are floats named ``lower_snake.case``; NaN
    means "cannot compute"; ``flags`` qualify the whole set (``partial``, ``motion``, ...)."""

    patient_ref: PatientRef
    ward: Ident
    bed: Ident
    timestamp_ns: TimestampNs
    source: Ident
    values: dict[FeatureName, float]
    flags: tuple[Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,32}$")], ...] = ()

    def __post_init__(self) -> None:
        _check_time("$.timestamp_ns", self.timestamp_ns)


class AlarmAck(_Base, tag="ack", kw_only=True):
    """A clinician's acknowledgement of one alert (topic ``alert-acks``). It silences that alert
    only, never another. ``by_user`` is a pseudonymous staff id, never a name."""

    alert_id: Annotated[str, msgspec.Meta(pattern=r"^a-[0-9a-f]{24}$")]
    patient_ref: PatientRef
    by_role: Ident
    by_user: Ident
    at_ns: TimestampNs
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""

    def __post_init__(self) -> None:
        _check_time("$.at_ns", self.at_ns)


#: Any canonical record.
Record = Union[NumericObservation, WaveformChunk, ChartedEvent, Alert, AlertNote, Features, AlarmAck]
