"""Run a network adapter's listener until stopped: settings in, records to Kafka, counters in the log.

:func:`serve` builds everything a listener needs from :class:`~wardwatch.config.Settings` — the
:class:`~wardwatch.streams.adapters.base.AdapterContext` (pseudonym key, ward), WardWatch's topics,
a :class:`~wardwatch.streams.publish.RecordProducer` as the sink — starts the listener named in
:data:`LISTENERS`, logs its counters every ``log_every_s`` and when it stops, and returns them.

For ``mqtt-wearable`` the host and port name the broker to subscribe to (default
``WARDWATCH_MQTT_HOST``/``WARDWATCH_MQTT_PORT``), not a port to listen on.

A listener module offers ``async start_listener(context, sink, host, port)`` returning an object
with ``port``, ``counters()`` and ``async close()`` (:class:`Listener`).

>>> sorted(LISTENERS), DEFAULT_PORTS["hl7-oru"], DEFAULT_PORTS["fhir-r4"]
(['fhir-r4', 'hl7-oru', 'mqtt-wearable'], 2575, 8080)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from wardwatch.config import Settings
from wardwatch.errors import ConfigurationError
from wardwatch.streams.adapters.base import AdapterContext
from wardwatch.streams.adapters.ingest import RecordSink

__all__ = ["Listener", "LISTENERS", "DEFAULT_PORTS", "adapter_context", "start_listener", "serve"]

logger = logging.getLogger(__name__)

#: Adapter name → "module:function" that starts its network listener.
LISTENERS: dict[str, str] = {
    "hl7-oru": "wardwatch.streams.adapters.hl7_mllp:start_listener",
    "fhir-r4": "wardwatch.streams.adapters.fhir:start_listener",
    "mqtt-wearable": "wardwatch.streams.adapters.mqtt_wearable:start_listener",
}

#: The port each listener uses unless told otherwise (MLLP's registered port; FHIR's usual; the
#: MQTT subscriber connects to the broker of WARDWATCH_MQTT_HOST/PORT, so it has none here).
DEFAULT_PORTS: dict[str, int] = {"hl7-oru": 2575, "fhir-r4": 8080}


class Listener(Protocol):
    """A running network listener."""

    @property
    def port(self) -> int: ...

    def counters(self) -> dict[str, object]: ...

    async def close(self) -> None: ...


def adapter_context(settings: Settings) -> AdapterContext:
    """The adapter context of ``settings``: the pseudonym key (required) and the ward's name."""
    return AdapterContext(secret=settings.pseudonym.require_secret(), ward=settings.ward.name)


async def start_listener(name: str, context: AdapterContext, sink: RecordSink, host: str = "127.0.0.1", port: int | None = None) -> Listener:
    """Start adapter ``name``'s listener on ``host:port`` (its default port when ``None``; 0 for any)."""
    if name not in LISTENERS:
        raise ConfigurationError("adapter", f"{name!r} has no network listener", f"listeners: {', '.join(sorted(LISTENERS))}")
    module_name, _, function = LISTENERS[name].partition(":")
    start: Callable[..., Any] = getattr(importlib.import_module(module_name), function)
    return await start(context, sink, host, DEFAULT_PORTS.get(name) if port is None else port)  # type: ignore[no-any-return]


async def serve(
    name: str,
    settings: Settings,
    host: str = "127.0.0.1",
    port: int | None = None,
    stop: asyncio.Event | None = None,
    log_every_s: float = 60.0,
    on_ready: Callable[[Listener], None] | None = None,
) -> dict[str, object]:
    """Run adapter ``name``'s listener into Kafka until ``stop`` is set; return its final counters."""
    from wardwatch.streams.publish import RecordProducer
    from wardwatch.streams.topics import ensure_topics

    context = adapter_context(settings)
    stop = stop or asyncio.Event()
    await asyncio.to_thread(ensure_topics, settings.kafka)
    async with RecordProducer(settings.kafka) as producer:
        listener = await start_listener(name, context, producer, host, port)
        logger.info("adapter %s listening on %s:%d (ward %s, topics %s.*)", name, host, listener.port, context.ward, settings.kafka.topic_prefix)
        if on_ready is not None:
            on_ready(listener)
        try:
            while not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=log_every_s)
                if not stop.is_set():
                    logger.info("adapter %s counters: %s", name, listener.counters())
        finally:
            await listener.close()
            counters = listener.counters()
            logger.info("adapter %s stopped; counters: %s", name, counters)
    return counters
