"""Replay a WFDB record (PhysioNet format) as canonical records, in real time or faster.

Any record ``wfdb.rdrecord`` reads is a source: a waveform record (``challenge2015/a104s``, the
MIT-BIH ``100``, the MIMIC ``03700181``) becomes one :class:`WaveformChunk` per channel per
second; a numerics record (sampling rate under 1 Hz, like the MIMIC-II minute numerics
``s00001-2896-10-10-00-31n``) becomes one :class:`NumericObservation` per channel per row.

* **Channels** map by name (case-insensitive) to MDC signals: ``II``/``MLII`` → lead II,
  ``I``, ``III``, ``aVR``, ``aVF``, ``V``/``V1``-``V6``/``MCL``/``MCL1`` → the matching lead
  (chest and modified chest leads → ``MDC_ECG_ELEC_POTL_V``), ``PLETH`` → ``MDC_PULS_OXIM_PLETH``,
  ``ABP``/``ART`` → ``MDC_PRESS_BLD_ART_ABP``, ``RESP`` → ``MDC_IMPED_TTHOR``; in a numerics record
  ``HR``, ``ABPSys/Dias/Mean``, ``PULSE``, ``RESP``, ``SpO2``, ``NBPSys/Dias/Mean``. Other
  channels are reported (:attr:`WfdbReplay.skipped_channels`) and skipped.
* **Samples are exact**: the record's digital samples travel as int16 with the record's ADC
  gain and baseline (``physical = (raw - offset) / gain`` in both WFDB and
  :class:`WaveformChunk`). Formats wider than 16 bits travel as float32 physical values.
* **NaN** (the format's invalid sample): a chunk holding any keeps its timing but travels as
  float32 with NaN at the missing samples and the quality flag ``lead_off`` (ECG) or
  ``probe_off`` (other signals). In numerics, NaN rows are skipped, and so are zeros when
  ``zero_is_missing`` (MIMIC-II numerics write 0 for "not measured": ABP is 0 in 1,929 of the
  1,936 minutes of ``s00001``, while no arterial line was in).
* **Units** convert to the canonical UCUM unit (``mmHg`` → ``mm[Hg]``, ``pm`` → ``/min``);
  signals in arbitrary units (PLETH, RESP impedance) keep their values whatever the record says.
* **Identity**: the record name is the patient identifier, pseudonymized; it appears nowhere else.
* **Time**: sample ``i`` is at ``start_ns + i / fs``; ``start_ns`` is "now" by default, or the
  record's base date and time (:func:`resolve_start`) when it has one inside 2000-2100.

A replay is a *source*, not a stream of native messages: :func:`replay` reads the file and sends
the records itself (nothing to de-duplicate, nothing arrives malformed: an unreadable record is an
error before the first record). :class:`WfdbReplayAdapter` still registers it as ``wfdb-replay``
and parses a small JSON request naming a record slice, so the conformance suite and
``wardwatch adapters list`` see it like every adapter.

>>> src = WfdbReplay.open("challenge2015/a104s", patient_secret=b"0123456789abcdef",
...                       start_ns=1_790_000_000_000_000_000, duration_s=2)  # reads ../shared/data
>>> offset_s, chunks = next(src.batches())
>>> [(c.signal, c.n_samples, c.dtype) for c in chunks]
[('MDC_ECG_ELEC_POTL_II', 250, 'int16'), ('MDC_ECG_ELEC_POTL_V', 250, 'int16'), ('MDC_PULS_OXIM_PLETH', 250, 'int16')]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

import msgspec
import numpy as np

from wardwatch.errors import ConfigurationError, SchemaValidationError
from wardwatch.streams.adapters.base import Adapter, ParseResult, Problem
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import MAX_TIMESTAMP_NS, MIN_TIMESTAMP_NS, NumericObservation, QualityFlag, Record, WaveformChunk
from wardwatch.streams.signals import lookup
from wardwatch.streams.units import to_canonical

__all__ = ["WfdbReplay", "WfdbReplayAdapter", "ReplaySummary", "replay", "data_dir", "resolve_record", "resolve_start",
           "WAVEFORM_CHANNELS", "NUMERIC_CHANNELS"]

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "WARDWATCH_DATA_DIR"
_REPO_ROOT = Path(__file__).resolve().parents[2]

_ECG = {"I": "I", "II": "II", "MLII": "II", "III": "III", "AVR": "AVR", "AVF": "AVF",
        "V": "V", "MCL": "V", "MCL1": "V", **{f"V{i}": "V" for i in range(1, 7)}}
#: Waveform channel name (upper case) → MDC signal.
WAVEFORM_CHANNELS: dict[str, str] = {
    **{name: f"MDC_ECG_ELEC_POTL_{lead}" for name, lead in _ECG.items()},
    "PLETH": "MDC_PULS_OXIM_PLETH",
    "ABP": "MDC_PRESS_BLD_ART_ABP",
    "ART": "MDC_PRESS_BLD_ART_ABP",
    "RESP": "MDC_IMPED_TTHOR",
}
#: Numerics channel name (upper case) → MDC signal.
NUMERIC_CHANNELS: dict[str, str] = {
    "HR": "MDC_ECG_HEART_RATE",
    "PULSE": "MDC_PULS_OXIM_PULS_RATE",
    "RESP": "MDC_RESP_RATE",
    "SPO2": "MDC_PULS_OXIM_SAT_O2",
    "ABPSYS": "MDC_PRESS_BLD_ART_ABP_SYS",
    "ABPDIAS": "MDC_PRESS_BLD_ART_ABP_DIA",
    "ABPMEAN": "MDC_PRESS_BLD_ART_ABP_MEAN",
    "NBPSYS": "MDC_PRESS_BLD_NONINV_SYS",
    "NBPDIAS": "MDC_PRESS_BLD_NONINV_DIA",
    "NBPMEAN": "MDC_PRESS_BLD_NONINV_MEAN",
}
_UNIT_ALIASES = {"pm": "/min", "nu": "1"}
_FLUSH_RECORDS = 2000  # behind schedule or in fast mode, records go to Kafka in batches of at most this  # WFDB spellings to_canonical does not know


def data_dir() -> Path:
    """The recordings folder: ``$WARDWATCH_DATA_DIR``, else ``../shared/data`` beside the repository."""
    path = Path(os.environ.get(DATA_DIR_ENV) or _REPO_ROOT / ".." / "shared" / "data").resolve()
    if not path.is_dir():
        raise ConfigurationError(DATA_DIR_ENV, f"the recordings folder {path} does not exist",
                                 "put the shared recordings at ../shared/data or point WARDWATCH_DATA_DIR at them")
    return path


def resolve_record(record: str | Path, within: Path | None = None) -> Path:
    """The path (without extension) of a record given as a path, or relative to :func:`data_dir`.

    With ``within``, the record must lie inside that folder (requests cannot read elsewhere).
    """
    text = str(record).removesuffix(".hea")
    candidates = [Path(text)] if within is None else []
    candidates.append((within or data_dir()) / text)
    for candidate in candidates:
        resolved = candidate.resolve()
        if within is not None and within.resolve() not in resolved.parents:
            break
        if resolved.with_name(resolved.name + ".hea").is_file():
            return resolved
    # The record name is the patient identifier: the message does not repeat it.
    where = "under the data folder" if within is not None else "at that path or under the data folder"
    raise SchemaValidationError("$.record", f"no WFDB record of that name {where} (a .hea header file)")


def resolve_start(start: str | int | None, base: datetime | None, now_ns: int) -> int:
    """UTC epoch ns of sample 0: ``None``/``"now"``, ``"record"`` (base date/time), ISO 8601 or epoch ns."""
    if start is None or start == "now":
        return now_ns
    if isinstance(start, int) or (isinstance(start, str) and start.isdigit()):
        ns = int(start)
    elif start == "record":
        if base is None:
            raise ConfigurationError("start", "the record has no base date and time", "use --start now or an ISO 8601 time")
        ns = round(base.replace(tzinfo=base.tzinfo or timezone.utc).timestamp() * 1e6) * 1000
        if not MIN_TIMESTAMP_NS <= ns < MAX_TIMESTAMP_NS:
            raise ConfigurationError("start", f"the record's base date {base.date()} is outside 2000-2100 (shifted for privacy)",
                                     "use --start now or an ISO 8601 time")
    else:
        try:
            when = datetime.fromisoformat(start)
        except ValueError:
            raise ConfigurationError("start", f"{start!r} is not now, record, epoch ns or an ISO 8601 time") from None
        ns = round(when.replace(tzinfo=when.tzinfo or timezone.utc).timestamp() * 1e6) * 1000
    if not MIN_TIMESTAMP_NS <= ns < MAX_TIMESTAMP_NS:
        raise ConfigurationError("start", f"{start!r} is not a time between 2000 and 2100")
    return ns


@dataclass(frozen=True)
class _Channel:
    index: int
    name: str
    signal: str
    unit_scale: float  # canonical = scale * record physical
    gain: float
    baseline: int
    nan_value: int | None


def _unit_scale(signal: str, unit: str) -> float:
    spec = lookup(signal)
    if spec.unit == "1":
        return 1.0  # arbitrary units: the record's scale is kept
    unit = _UNIT_ALIASES.get(unit.strip().lower(), unit)
    zero, one = to_canonical(signal, 0.0, unit), to_canonical(signal, 1.0, unit)
    if zero != 0.0:
        raise SchemaValidationError("unit", f"{unit!r} is not a scale of {spec.unit!r}")
    return one


def _invalid_sample(fmt: str) -> int | None:
    """The digital value a WFDB format uses for "no sample" (NaN)."""
    from wfdb.io._signal import INVALID_SAMPLE_VALUE

    return INVALID_SAMPLE_VALUE.get(fmt)


def _first_sample_at(t_s: float, fs_hz: float) -> int:
    """Index of the first sample at or after ``t_s`` (a header's fs of 0.0166666666667 is 1/60)."""
    return math.ceil(t_s * fs_hz - 1e-6)


def _header(path: Path) -> Any:
    import wfdb

    return wfdb.rdheader(str(path))


def _base_datetime(rec: Any) -> datetime | None:
    if getattr(rec, "base_date", None) is None or getattr(rec, "base_time", None) is None:
        return None
    return datetime.combine(rec.base_date, rec.base_time)


@dataclass
class WfdbReplay:
    """One WFDB record (digital samples) as batches of canonical records. Pure: no I/O after reading."""

    record: Any  # wfdb.Record read with physical=False
    patient_ref: str
    ward: str
    bed: str
    device_id: str
    start_ns: int  # time of the record's sample 0
    first_sample: int = 0  # index in the record of record.d_signal[0]
    zero_is_missing: bool = True
    skipped_channels: dict[str, str] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)

    kind: Literal["waveform", "numeric"] = field(init=False)
    channels: list[_Channel] = field(init=False)

    def __post_init__(self) -> None:
        rec = self.record
        self.kind = "numeric" if rec.fs < 1.0 else "waveform"
        table = NUMERIC_CHANNELS if self.kind == "numeric" else WAVEFORM_CHANNELS
        self.channels = []
        for i, name in enumerate(rec.sig_name):
            signal = table.get(name.strip().upper())
            if signal is None:
                self.skipped_channels[name] = f"no canonical {self.kind} signal for channel {name!r}"
                continue
            try:
                scale = _unit_scale(signal, rec.units[i])
            except SchemaValidationError as exc:
                self.skipped_channels[name] = f"unit {rec.units[i]!r}: {exc.reason}"
                continue
            gain = float(rec.adc_gain[i]) or 200.0  # WFDB: gain 0 means the default 200
            self.channels.append(_Channel(i, name, signal, scale, gain, int(rec.baseline[i]), _invalid_sample(rec.fmt[i])))

    @classmethod
    def open(cls, record: str | Path, *, patient_secret: bytes, start_ns: int | None = None,
             ward: str = "ward-a", bed: str = "replay", device_id: str = "wfdb-replay", from_s: float = 0.0,
             duration_s: float | None = None, channels: Sequence[str] | None = None, zero_is_missing: bool = True,
             within: Path | None = None) -> "WfdbReplay":
        """Read a record (or a slice ``from_s`` .. ``from_s + duration_s``) from disk; ``start_ns`` is
        the time of the record's sample 0 (now when ``None``)."""
        import wfdb

        path = resolve_record(record, within)
        header = wfdb.rdheader(str(path))
        if not 0 <= from_s < header.sig_len / header.fs or (duration_s is not None and not duration_s > 0):
            raise SchemaValidationError("$.from_s", f"the record has {header.sig_len / header.fs:g} s; nothing from {from_s:g} s")
        sampfrom = max(0, _first_sample_at(from_s, header.fs))
        sampto = header.sig_len if duration_s is None else min(header.sig_len, _first_sample_at(min(from_s + duration_s, 1e9), header.fs))
        if sampto <= sampfrom:
            raise SchemaValidationError("$.from_s", f"the record has {header.sig_len / header.fs:g} s; nothing from {from_s:g} s")
        names = None
        if channels:
            names = [n for n in header.sig_name if n in set(channels)]
            if not names:
                raise SchemaValidationError("$.channels", f"none of {list(channels)} is in the record ({header.sig_name})")
        rec = wfdb.rdrecord(str(path), sampfrom=sampfrom, sampto=sampto, channel_names=names, physical=False)
        start_ns = time.time_ns() if start_ns is None else start_ns
        return cls(rec, pseudonymize(path.name, patient_secret), ward, bed, device_id, start_ns, sampfrom, zero_is_missing)

    @property
    def fs_hz(self) -> float:
        return float(self.record.fs)

    def _time_ns(self, sample: int) -> int:
        ns = self.start_ns + round(sample * 1e9 / self.fs_hz)
        return round(ns, -6) if self.kind == "numeric" else ns  # minute numerics: whole milliseconds

    def batches(self) -> Iterator[tuple[float, list[Record]]]:
        """``(seconds after the first replayed sample, records)``: one batch per second of waveform
        (every channel's chunk) or per numerics row."""
        yield from (self._numeric_rows() if self.kind == "numeric" else self._waveform_seconds())

    def _where(self) -> dict[str, str]:
        return {"patient_ref": self.patient_ref, "ward": self.ward, "bed": self.bed, "device_id": self.device_id}

    def _waveform_seconds(self) -> Iterator[tuple[float, list[Record]]]:
        fs, n = self.fs_hz, self.record.d_signal.shape[0]
        first, last = self.first_sample, self.first_sample + n
        second = math.floor(first / fs)
        where = self._where()
        while True:
            lo, hi = max(first, math.ceil(second * fs)), min(last, math.ceil((second + 1) * fs))
            if lo >= last:
                return
            batch: list[Record] = []
            if hi > lo:
                for ch in self.channels:
                    batch.append(self._chunk(ch, self.record.d_signal[lo - first:hi - first, ch.index], lo, where))
                yield (lo - first) / fs, batch
            second += 1

    def _chunk(self, ch: _Channel, raw: np.ndarray, sample: int, where: dict[str, str]) -> WaveformChunk:
        spec = lookup(ch.signal)
        fields = dict(where, signal=ch.signal, unit=spec.unit, fs_hz=self.fs_hz, start_ns=self._time_ns(sample))
        missing = raw == ch.nan_value if ch.nan_value is not None else np.zeros(raw.shape, bool)
        if not missing.any() and raw.min() >= -32768 and raw.max() <= 32767:
            return WaveformChunk(**fields, dtype="int16", samples=raw.astype("<i2").tobytes(),  # type: ignore[arg-type]
                                 gain=ch.gain / ch.unit_scale, offset=float(ch.baseline))
        physical = (raw.astype(np.float64) - ch.baseline) / ch.gain * ch.unit_scale
        physical[missing] = np.nan
        flag: tuple[QualityFlag, ...] = ()
        if missing.any():
            flag = ("lead_off",) if ch.signal.startswith("MDC_ECG_") else ("probe_off",)
        return WaveformChunk.from_array(physical, **fields, quality=flag)  # type: ignore[arg-type]

    def _numeric_rows(self) -> Iterator[tuple[float, list[Record]]]:
        d = self.record.d_signal
        where = self._where()
        for row in range(d.shape[0]):
            batch: list[Record] = []
            ts = self._time_ns(self.first_sample + row)
            for ch in self.channels:
                raw = int(d[row, ch.index])
                if raw == ch.nan_value:
                    continue
                value = (raw - ch.baseline) / ch.gain * ch.unit_scale
                if value == 0.0 and self.zero_is_missing:
                    continue
                try:
                    batch.append(NumericObservation(**where, signal=ch.signal, unit=lookup(ch.signal).unit,
                                                    timestamp_ns=ts, value=round(value, 6)))
                except SchemaValidationError:
                    self.rejected[ch.signal] += 1
            yield row / self.fs_hz, batch


# --- the registered adapter: a JSON request for a slice -------------------------------------------


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``{"record": "challenge2015/a104s", "start_ns": ..., "from_s": 0, "duration_s": 10}``."""

    record: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    start_ns: Union[int, None] = None  # time of the record's sample 0; now when absent
    from_s: Annotated[float, msgspec.Meta(ge=0, le=1e7)] = 0.0
    duration_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 10.0  # at most MAX_REQUEST_SAMPLES samples
    bed: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")] = "replay"
    device_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")] = "wfdb-replay"
    channels: Union[list[str], None] = None


_REQUEST = msgspec.json.Decoder(ReplayRequest)
#: The most samples (all channels together) one request may ask for: 60 s of 3 channels at 360 Hz.
MAX_REQUEST_SAMPLES = 64_800


class WfdbReplayAdapter(Adapter):
    """A replay request (JSON) → the canonical records of that slice of a WFDB record under the data folder."""

    name: ClassVar[str] = "wfdb-replay"
    summary: ClassVar[str] = "replay of WFDB records (PhysioNet) under the data folder: waveforms as 1-s chunks, numerics as rows"

    def parse(self, payload: bytes) -> ParseResult:
        try:
            req = _REQUEST.decode(payload)
        except msgspec.ValidationError as exc:
            reason, _, path = str(exc).partition(" - at `")
            raise SchemaValidationError(path.rstrip("`") or "$", reason) from None
        except msgspec.DecodeError as exc:
            raise SchemaValidationError("$", f"not a JSON replay request: {exc}") from None
        except UnicodeDecodeError:
            raise SchemaValidationError("$", "not UTF-8 text") from None
        if req.start_ns is not None and not MIN_TIMESTAMP_NS <= req.start_ns < MAX_TIMESTAMP_NS:
            raise SchemaValidationError("$.start_ns", "must be UTC epoch nanoseconds between 2000 and 2100")
        try:
            folder = data_dir()
        except ConfigurationError as exc:  # no recordings here: the request cannot be served
            raise SchemaValidationError("$.record", str(exc)) from None
        try:
            path = resolve_record(req.record, folder)
            header = _header(path)
            channels = len(req.channels or header.sig_name)
            if min(req.duration_s * header.fs, header.sig_len) * channels > MAX_REQUEST_SAMPLES:
                raise SchemaValidationError("$.duration_s", f"asks for more than {MAX_REQUEST_SAMPLES} samples; ask for a shorter slice")
            source = WfdbReplay.open(path, patient_secret=self.context.secret, ward=self.context.ward, bed=req.bed,
                                     device_id=req.device_id, start_ns=req.start_ns or self.context.now_ns(),
                                     from_s=req.from_s, duration_s=req.duration_s, channels=req.channels)
        except SchemaValidationError:
            raise
        except (OSError, ValueError) as exc:
            raise SchemaValidationError("$.record", f"cannot read the record: {type(exc).__name__}") from None
        result = ParseResult()
        for _, batch in source.batches():
            result.records.extend(batch)
        result.problems.extend(Problem(f"$.channels.{name}", why) for name, why in source.skipped_channels.items())
        result.problems.extend(Problem(f"$.{signal}", f"{n} values outside the plausible range") for signal, n in source.rejected.items())
        return result


# --- the source: to Kafka, paced ------------------------------------------------------------------


@dataclass
class ReplaySummary:
    sent: int = 0
    by_signal: Counter[str] = field(default_factory=Counter)
    skipped_channels: dict[str, str] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    patient_ref: str = ""


async def replay(settings: Any, record: str | Path, speed: float | None = 1.0, *, start: str | int | None = None,
                 bed: str = "replay", device_id: str = "wfdb-replay", from_s: float = 0.0, duration_s: float | None = None,
                 channels: Sequence[str] | None = None, zero_is_missing: bool = True, stop: asyncio.Event | None = None,
                 sink: Any = None) -> ReplaySummary:
    """Replay ``record`` to Kafka at ``speed`` times real time (``None``: as fast as possible).

    ``start`` is when the first replayed sample happened (default now; ``"record"``: the record's
    own base time, when it has one). Records go through a
    :class:`~wardwatch.streams.publish.RecordProducer` on ``settings.kafka`` unless ``sink`` is given.
    """
    import wfdb

    from wardwatch.streams.publish import RecordProducer

    if speed is not None and speed <= 0:
        raise ConfigurationError("speed", f"{speed} must be positive (or use fast mode)")
    secret = settings.pseudonym.require_secret()
    path = resolve_record(record)
    if start == "record":  # the record's own clock: sample 0 at its base time
        sample0_ns = resolve_start("record", _base_datetime(wfdb.rdheader(str(path))), 0)
    else:  # the first replayed sample at `start`
        sample0_ns = resolve_start(start, None, time.time_ns()) - round(from_s * 1e9)
    source = WfdbReplay.open(path, patient_secret=secret, start_ns=sample0_ns, ward=settings.ward.name, bed=bed,
                             device_id=device_id, from_s=from_s, duration_s=duration_s, channels=channels,
                             zero_is_missing=zero_is_missing)
    summary = ReplaySummary(skipped_channels=dict(source.skipped_channels), patient_ref=source.patient_ref)
    for name, why in source.skipped_channels.items():
        logger.warning("replay of %s: channel %s skipped: %s", source.patient_ref, name, why)
    stop = stop or asyncio.Event()

    async def run(target: Any) -> None:
        pending: list[Record] = []

        async def flush() -> None:
            if pending:
                await target.send_records(pending)
                summary.sent += len(pending)
                summary.by_signal.update(r.signal for r in pending)  # type: ignore[union-attr]
                pending.clear()

        wall0 = time.monotonic()
        for offset_s, batch in source.batches():
            if stop.is_set():
                break
            delay = 0.0 if speed is None else wall0 + offset_s / speed - time.monotonic()
            if delay > 0:  # what is due is sent before waiting for the next
                await flush()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                if stop.is_set():
                    break
            pending.extend(batch)
            if len(pending) >= _FLUSH_RECORDS:
                await flush()
        await flush()

    logger.info("replaying a %s record as %s at %s", source.kind, source.patient_ref, "full speed" if speed is None else f"{speed:g}x")
    if sink is not None:
        await run(sink)
    else:
        from wardwatch.streams.topics import ensure_topics

        await asyncio.to_thread(ensure_topics, settings.kafka)
        async with RecordProducer(settings.kafka) as producer:
            await run(producer)
    summary.rejected = source.rejected
    if source.rejected:
        logger.warning("replay of %s: implausible values skipped: %s", source.patient_ref, dict(source.rejected))
    logger.info("replay of %s done: %d records", source.patient_ref, summary.sent)
    return summary
