"""Wearables over MQTT: JSON telemetry on ``{topic_root}/wearables/{device_id}/telemetry``.

A wearable (wrist band, chest patch, finger clip on a wireless hub) publishes one JSON object per
message, QoS 1, on ``{WARDWATCH_MQTT_TOPIC_ROOT}/wearables/{device_id}/telemetry``. The payload
is described in ``docs/mqtt-wearables.md``; in short::

    {"v": 1, "device_id": "wb-0042", "patient_id": "MRN-000123", "bed": "07",
     "ts": "2026-09-21T10:15:30.250Z",            # ISO 8601 with offset, or epoch milliseconds
     "heart_rate": 72, "spo2": 97, "skin_temp": {"value": 93.2, "unit": "[degF]"},
     "battery": 64,
     "accel": {"fs_hz": 25, "unit": "g", "x": [0.01, ...], "y": [...], "z": [...]}}

:class:`MqttWearableAdapter` turns one payload into canonical records: numerics
(``MDC_PULS_OXIM_PULS_RATE`` or ``MDC_ECG_HEART_RATE``, ``MDC_PULS_OXIM_SAT_O2``,
``MDC_RESP_RATE``, ``MDC_TEMP_SKIN``) and accelerometer :class:`WaveformChunk` s on
``WARDWATCH_ACCEL_X/Y/Z`` in m/s2. The patient identifier is pseudonymized at once and dropped.

Battery is device state, not physiology: it is no observation. The parse result carries it as a
:class:`DeviceStatus` (for the technical-alarm path of the alerting issue), and while it is under
``low_battery_pct`` every record of the message carries the quality flag ``battery_low``, so the
cue reaches Kafka and the agents without a new record type.

:func:`serve` subscribes on the real broker (aiomqtt, QoS 1, persistent session), passes each
message through an :class:`~wardwatch.streams.adapters.ingest.Ingestor` into Kafka and acknowledges
it only after Kafka has it (at-least-once; the ingestor drops redeliveries). It reconnects with
backoff and never stops on a bad payload: that goes to the dead-letter topic.

>>> from wardwatch.streams.adapters.base import AdapterContext
>>> adapter = MqttWearableAdapter(AdapterContext(secret=b"0123456789abcdef"))
>>> result = adapter.parse(b'{"device_id": "wb-1", "patient_id": "MRN-1", "ts": 1790000000000,'
...                        b' "spo2": 96, "battery": 12}')
>>> r = result.records[0]
>>> r.signal, r.value, r.quality, result.device_status.battery_pct
('MDC_PULS_OXIM_SAT_O2', 96.0, ('battery_low',), 12.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal, Union

import msgspec
import numpy as np

from wardwatch.config import MqttSettings, Settings
from wardwatch.errors import SchemaValidationError
from wardwatch.streams.adapters.base import Adapter, AdapterContext, ParseResult, Problem
from wardwatch.streams.adapters.ingest import Ingestor, RecordSink
from wardwatch.streams.records import MAX_TIMESTAMP_NS, MIN_TIMESTAMP_NS, NumericObservation, QualityFlag, Record, WaveformChunk
from wardwatch.streams.signals import lookup
from wardwatch.streams.units import to_canonical

__all__ = ["MqttWearableAdapter", "DeviceStatus", "WearableParseResult", "WearableSubscriber", "WearableListener", "serve",
           "start_listener", "telemetry_topic", "parse_timestamp"]

logger = logging.getLogger(__name__)

_IDENT = r"^[A-Za-z0-9._:-]+$"
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_IDENT)]


class Measurement(msgspec.Struct, forbid_unknown_fields=True):
    """A value in a unit other than the canonical one: ``{"value": 98.6, "unit": "[degF]"}``."""

    value: float
    unit: str


Value = Union[float, Measurement]


class Accel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A chunk of three-axis accelerometer samples."""

    fs_hz: Annotated[float, msgspec.Meta(gt=0, le=1000)]
    x: list[float]
    y: list[float]
    z: list[float]
    unit: Literal["g", "[g]", "m/s2", "m/s^2"] = "m/s2"
    ts: Union[int, str, None] = None  # time of the first sample; the message's ts when absent


class Telemetry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Payload version 1 (see ``docs/mqtt-wearables.md``)."""

    v: Literal[1] = 1
    device_id: Ident
    patient_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    ward: Union[Ident, None] = None
    bed: Union[Ident, None] = None
    ts: Union[int, str]
    heart_rate: Union[Value, None] = None
    hr_source: Literal["ppg", "ecg"] = "ppg"
    spo2: Union[Value, None] = None
    resp_rate: Union[Value, None] = None
    skin_temp: Union[Value, None] = None
    battery: Union[Annotated[float, msgspec.Meta(ge=0, le=100)], None] = None
    accel: Union[Accel, None] = None
    quality: list[QualityFlag] = []
    ext: Union[dict[str, Any], None] = None  # vendor extras: accepted, not used


_DECODER = msgspec.json.Decoder(Telemetry)
_AT = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")

# payload field → (signal, default unit when a bare number is given)
_NUMERICS: dict[str, tuple[str, str]] = {
    "spo2": ("MDC_PULS_OXIM_SAT_O2", "%"),
    "resp_rate": ("MDC_RESP_RATE", "/min"),
    "skin_temp": ("MDC_TEMP_SKIN", "Cel"),
}
_HR_SIGNAL = {"ppg": "MDC_PULS_OXIM_PULS_RATE", "ecg": "MDC_ECG_HEART_RATE"}
_ACCEL_SIGNALS = ("WARDWATCH_ACCEL_X", "WARDWATCH_ACCEL_Y", "WARDWATCH_ACCEL_Z")
UNASSIGNED_BED = "unassigned"


def telemetry_topic(topic_root: str, device_id: str = "+") -> str:
    """The MQTT topic of a device's telemetry (``+``: the filter for every device)."""
    return f"{topic_root}/wearables/{device_id}/telemetry"


def _decode_error(exc: msgspec.MsgspecError) -> SchemaValidationError:
    if not isinstance(exc, msgspec.ValidationError):
        return SchemaValidationError("$", f"not a JSON object: {exc}")
    match = _AT.match(str(exc))
    reason, path = (match.group("reason"), match.group("path")) if match else (str(exc), None)
    for pattern, why in ((_UNKNOWN, "unknown field (vendor extras go under `ext`)"), (_MISSING, "required field is missing")):
        found = pattern.match(reason)
        if found:
            return SchemaValidationError(f"{path or '$'}.{found.group('name')}", why)
    return SchemaValidationError(path or "$", reason)


def parse_timestamp(value: int | str, field: str) -> int:
    """UTC epoch ns of an ISO 8601 time with a UTC offset, or of an integer of epoch milliseconds."""
    if isinstance(value, int):
        ns = value * 1_000_000
    else:
        try:
            when = datetime.fromisoformat(value.strip())
            if when.tzinfo is None:
                raise SchemaValidationError(field, "ISO 8601 time without a UTC offset (add Z or +hh:mm)")
            delta = when.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, SchemaValidationError):
                raise
            raise SchemaValidationError(field, f"{value[:40]!r} is not an ISO 8601 time") from None
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if not MIN_TIMESTAMP_NS <= ns < MAX_TIMESTAMP_NS:
        raise SchemaValidationError(field, f"{value!r} is not a time between 2000 and 2100 (integers are epoch milliseconds)")
    return ns


@dataclass(frozen=True)
class DeviceStatus:
    """State of the sending device, for technical alarms (no patient identifier, only the reference)."""

    device_id: str
    patient_ref: str
    timestamp_ns: int
    battery_pct: float | None
    battery_low: bool


@dataclass
class WearableParseResult(ParseResult):
    """A :class:`ParseResult` that also carries the device's status (battery)."""

    device_status: DeviceStatus | None = None


class MqttWearableAdapter(Adapter):
    """One wearable telemetry JSON message → numerics and accelerometer chunks."""

    name: ClassVar[str] = "mqtt-wearable"
    summary: ClassVar[str] = "wearable JSON telemetry over MQTT ({root}/wearables/{device}/telemetry): HR, SpO2, skin temp, accel, battery"

    def __init__(self, context: AdapterContext, low_battery_pct: float = 20.0) -> None:
        super().__init__(context)
        self.low_battery_pct = low_battery_pct

    def parse(self, payload: bytes) -> WearableParseResult:
        try:
            msg = _DECODER.decode(payload)
        except msgspec.MsgspecError as exc:
            raise _decode_error(exc) from None
        except UnicodeDecodeError:
            raise SchemaValidationError("$", "not UTF-8 text") from None
        ts_ns = parse_timestamp(msg.ts, "$.ts")
        ref = self.context.pseudonymize(msg.patient_id)
        battery_low = msg.battery is not None and msg.battery < self.low_battery_pct
        flags: tuple[QualityFlag, ...] = tuple(dict.fromkeys([*msg.quality, *(["battery_low"] if battery_low else [])]))
        where = {"patient_ref": ref, "ward": msg.ward or self.context.ward, "bed": msg.bed or UNASSIGNED_BED, "device_id": msg.device_id}
        result = WearableParseResult(
            device_status=DeviceStatus(msg.device_id, ref, ts_ns, msg.battery, battery_low),
        )
        fields: list[tuple[str, str, str, Value]] = []
        if msg.heart_rate is not None:
            fields.append(("heart_rate", _HR_SIGNAL[msg.hr_source], "/min", msg.heart_rate))
        for name, (signal, unit) in _NUMERICS.items():
            value = getattr(msg, name)
            if value is not None:
                fields.append((name, signal, unit, value))
        for name, signal, default_unit, value in fields:
            try:
                result.records.append(self._numeric(where, signal, default_unit, value, ts_ns, flags))
            except SchemaValidationError as exc:  # unknown unit, or a value no patient can have
                result.problems.append(Problem(f"$.{name}.unit" if exc.field == "unit" else f"$.{name}", exc.reason))
        if msg.accel is not None:
            try:
                result.records.extend(self._accel(where, msg.accel, ts_ns, flags))
            except SchemaValidationError as exc:
                result.problems.append(Problem(exc.field, exc.reason))
        if not result.records and not result.problems and msg.battery is None:
            raise SchemaValidationError("$", "no measurement in the message (heart_rate, spo2, resp_rate, skin_temp, accel or battery)")
        return result

    def _numeric(self, where: dict[str, str], signal: str, default_unit: str, value: Value,
                 ts_ns: int, flags: tuple[QualityFlag, ...]) -> NumericObservation:
        raw, unit = (value.value, value.unit) if isinstance(value, Measurement) else (value, default_unit)
        canonical = to_canonical(signal, raw, unit)
        return NumericObservation(**where, signal=signal, unit=lookup(signal).unit, timestamp_ns=ts_ns,
                                  value=round(canonical, 6), quality=flags)

    def _accel(self, where: dict[str, str], accel: Accel, ts_ns: int, flags: tuple[QualityFlag, ...]) -> list[Record]:
        n = len(accel.x)
        if n == 0 or len(accel.y) != n or len(accel.z) != n:
            raise SchemaValidationError("$.accel", f"x, y and z must be non-empty and of equal length (got {n}, {len(accel.y)}, {len(accel.z)})")
        start = parse_timestamp(accel.ts, "$.accel.ts") if accel.ts is not None else ts_ns
        scale = to_canonical("WARDWATCH_ACCEL_X", 1.0, accel.unit)
        records: list[Record] = []
        for axis, signal in zip("xyz", _ACCEL_SIGNALS):
            values = np.asarray(getattr(accel, axis), dtype=np.float64) * scale
            spec = lookup(signal)
            if not np.all((values >= spec.low) & (values <= spec.high)):
                raise SchemaValidationError(f"$.accel.{axis}", f"a sample is outside {spec.low:g}..{spec.high:g} m/s2 (wrong unit?)")
            try:
                records.append(WaveformChunk.from_array(values, **where, signal=signal, unit=spec.unit,
                                                        fs_hz=accel.fs_hz, start_ns=start, quality=flags))
            except SchemaValidationError as exc:
                raise SchemaValidationError(f"$.accel.{axis}" if exc.field == "$.samples" else "$.accel", exc.reason) from None
        return records


# --- the subscriber: the I/O edge ------------------------------------------------------------------


class _TopicBoundAdapter(MqttWearableAdapter):
    """The subscriber's adapter: also checks that a payload's device is its topic's device (set in
    :attr:`topic_device` just before each parse), and keeps each device's last status."""

    def __init__(self, context: AdapterContext, low_battery_pct: float) -> None:
        super().__init__(context, low_battery_pct)
        self.topic_device: str | None = None
        self.device_status: dict[str, DeviceStatus] = {}

    def parse(self, payload: bytes) -> WearableParseResult:
        result = super().parse(payload)
        status = result.device_status
        if status is None:
            return result
        if self.topic_device is not None and status.device_id != self.topic_device:
            raise SchemaValidationError("$.device_id", "does not match the device id in the MQTT topic")
        before = self.device_status.get(status.device_id)
        if status.battery_low and not (before and before.battery_low):
            logger.warning("wearable %s: battery low (%.0f %%)", status.device_id, status.battery_pct or 0.0)
        self.device_status[status.device_id] = status
        return result


@dataclass
class WearableSubscriber:
    """Subscribe to every wearable's telemetry and ingest it into ``sink`` until ``stop`` is set.

    QoS 1 on a persistent session (``clean_session=False``, a stable ``client_id``): the broker
    keeps messages while the subscriber is away. A message is acknowledged only after the sink has
    it, so a crash re-delivers it and the ingestor drops the duplicates it remembers.
    """

    context: AdapterContext
    mqtt: MqttSettings
    sink: RecordSink
    client_id: str | None = None  # default: wardwatch-wearables-{topic root}, one session per root
    topic_root: str | None = None
    low_battery_pct: float = 20.0
    min_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    clean_session: bool = False
    max_in_flight: int = 64
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    reconnects: int = 0

    def __post_init__(self) -> None:
        root = self.topic_root or self.mqtt.topic_root
        self.client_id = self.client_id or re.sub(r"[^A-Za-z0-9_-]", "-", f"wardwatch-wearables-{root}")[:64]
        self.topic_filter = telemetry_topic(root)
        self._prefix, self._suffix = f"{root}/wearables/", "/telemetry"
        self.adapter = _TopicBoundAdapter(self.context, low_battery_pct=self.low_battery_pct)
        self.ingestor = Ingestor(self.adapter, self.sink, source=f"mqtt:{self.topic_filter}")
        self._paho: Any = None

    @property
    def device_status(self) -> dict[str, DeviceStatus]:
        """Each device's last status (battery), by device id: for technical alarms."""
        return self.adapter.device_status

    def counters(self) -> dict[str, object]:
        return {**self.ingestor.counters.as_dict(), "reconnects": self.reconnects}

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and ingest; reconnect with exponential backoff until ``stop``."""
        import aiomqtt
        from aiokafka.errors import KafkaError

        backoff = self.min_backoff_s
        while not stop.is_set():
            try:
                async with self._client(aiomqtt) as client:
                    await client.subscribe(self.topic_filter, qos=1)
                    logger.info("subscribed to %s on %s:%d (QoS 1)", self.topic_filter, self.mqtt.host, self.mqtt.port)
                    self.connected.set()
                    backoff = self.min_backoff_s
                    await _until_stopped(self._consume(client), stop)
            except (aiomqtt.MqttError, KafkaError, OSError) as exc:
                logger.warning("MQTT subscriber: %s: %s; reconnecting in %.1f s", type(exc).__name__, exc, backoff)
            finally:
                self.connected.clear()
            if stop.is_set():
                break
            self.reconnects += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
        logger.info("MQTT subscriber stopped: %s", self.counters())

    def _client(self, aiomqtt: Any) -> Any:
        password = self.mqtt.password.get_secret_value()
        client = aiomqtt.Client(self.mqtt.host, self.mqtt.port, username=self.mqtt.username or None, password=password or None,
                                identifier=self.client_id, clean_session=self.clean_session, keepalive=30)
        # aiomqtt 2.5 acknowledges on receipt; paho, its engine, can leave the PUBACK to us, so that
        # a message is acknowledged only once Kafka has it. Without that hook: at most once.
        paho = getattr(client, "_client", None)
        self._paho = paho if hasattr(paho, "manual_ack_set") else None
        if self._paho is not None:
            self._paho.manual_ack_set(True)
        else:
            logger.warning("this aiomqtt cannot acknowledge manually: a crash may lose in-flight messages")
        return client

    async def _consume(self, client: Any) -> None:
        """Ingest messages as they come, up to ``max_in_flight`` waiting for Kafka at once, and
        acknowledge them to the broker in arrival order, each once Kafka has its records."""
        window: asyncio.Queue[tuple[asyncio.Task[None], Any]] = asyncio.Queue(maxsize=self.max_in_flight)

        async def acknowledge() -> None:
            while True:
                task, message = await window.get()
                await task  # a Kafka error ends the session unacknowledged: the broker re-delivers
                if self._paho is not None and message.qos > 0:
                    self._paho.ack(message.mid, message.qos)

        acker = asyncio.ensure_future(acknowledge())
        try:
            async for message in client.messages:
                if acker.done():
                    break
                # handle() parses before its first await, so messages are parsed in arrival order
                task = asyncio.ensure_future(self.handle(str(message.topic), _as_bytes(message.payload)))
                await _put_unless_done(window, (task, message), acker)
            if acker.done():
                acker.result()
        finally:
            acker.cancel()
            while not window.empty():
                window.get_nowait()[0].cancel()

    async def handle(self, topic: str, payload: bytes) -> None:
        """Ingest one message received on ``topic``: records to the sink, or the bytes to the DLQ."""
        device = topic[len(self._prefix):-len(self._suffix)] if topic.startswith(self._prefix) and topic.endswith(self._suffix) else None
        self.adapter.topic_device = device  # read by the parse that ingest() runs before it first waits
        outcome = await self.ingestor.ingest(payload, key=device.encode() if device else None)
        if not outcome.ok:
            logger.warning("wearable %s: message dead-lettered (%s)", device, "; ".join(p.field for p in outcome.problems))


async def _put_unless_done(queue: asyncio.Queue[Any], item: Any, watched: asyncio.Future[Any]) -> None:
    """``queue.put(item)``, unless ``watched`` finishes first (then its error is raised)."""
    put = asyncio.ensure_future(queue.put(item))
    await asyncio.wait({put, watched}, return_when=asyncio.FIRST_COMPLETED)
    if not put.done():
        put.cancel()
        item[0].cancel()
        watched.result()


async def _until_stopped(work: Any, stop: asyncio.Event) -> None:
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled():
        task.result()  # re-raise a connection error


def _as_bytes(payload: Any) -> bytes:
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode("utf-8")


class WearableListener:
    """A running subscriber, in the shape ``wardwatch.streams.adapters.serve`` expects of a listener."""

    def __init__(self, subscriber: WearableSubscriber) -> None:
        self.subscriber = subscriber
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(subscriber.run(self._stop))

    @property
    def port(self) -> int:
        return self.subscriber.mqtt.port

    def counters(self) -> dict[str, object]:
        return self.subscriber.counters()

    async def close(self) -> None:
        self._stop.set()
        await self._task


async def start_listener(context: AdapterContext, sink: RecordSink, host: str | None = None, port: int | None = None,
                         **options: Any) -> WearableListener:
    """Start the subscriber on the broker at ``host:port`` (``WARDWATCH_MQTT_*`` when ``None``); it runs
    in the background until :meth:`WearableListener.close`. Waits until it has subscribed (at most 10 s)."""
    mqtt = MqttSettings()
    if host is not None or port is not None:
        mqtt = mqtt.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    listener = WearableListener(WearableSubscriber(context, mqtt, sink, **options))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(listener.subscriber.connected.wait(), timeout=10.0)
    return listener


async def serve(settings: Settings, stop: asyncio.Event, *, sink: RecordSink | None = None,
                on_subscriber: Callable[[WearableSubscriber], None] | None = None, **options: Any) -> WearableSubscriber:
    """Run the wearable subscriber until ``stop`` is set (``wardwatch adapters serve mqtt-wearable``).

    Records go to Kafka through a :class:`~wardwatch.streams.publish.RecordProducer` on
    ``settings.kafka`` (topics created if missing) unless ``sink`` is given. ``options`` go to
    :class:`WearableSubscriber` (``client_id``, ``topic_root``, ``low_battery_pct``,
    ``clean_session``, backoff); ``on_subscriber`` is handed the subscriber once made (its
    ``connected`` event, counters and device status). Returns the subscriber.
    """
    from wardwatch.streams.publish import RecordProducer
    from wardwatch.streams.topics import ensure_topics

    context = AdapterContext(secret=settings.pseudonym.require_secret(), ward=settings.ward.name)

    async def run(target: RecordSink) -> WearableSubscriber:
        subscriber = WearableSubscriber(context, settings.mqtt, target, **options)
        if on_subscriber is not None:
            on_subscriber(subscriber)
        await subscriber.run(stop)
        return subscriber

    if sink is not None:
        return await run(sink)
    await asyncio.to_thread(ensure_topics, settings.kafka)
    async with RecordProducer(settings.kafka) as producer:
        return await run(producer)
