"""``wardwatch adapters``: list the sensor adapters and run a network adapter's listener."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from wardwatch.config import load_settings

__all__ = ["adapters"]

logger = logging.getLogger(__name__)

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
_SERVABLE = ("hl7-oru", "fhir-r4", "mqtt-wearable")  # keep in step with wardwatch.streams.adapters.serve.LISTENERS


@click.group(context_settings=_CONTEXT)
def adapters() -> None:
    """List sensor adapters and run their listeners."""


@adapters.command("list")
def adapters_list() -> None:
    """Every adapter that can be used: name, where it comes from, what it reads."""
    from wardwatch.errors import WardWatchError
    from wardwatch.streams.adapters.registry import available_adapters, get_adapter_class

    infos = available_adapters()
    width = max((len(i.name) for i in infos), default=4)
    for info in infos:
        try:
            summary = get_adapter_class(info.name).summary
        except WardWatchError as exc:
            summary = f"(cannot load: {exc})"
        click.echo(f"{info.name:<{width}}  {info.origin:<12}  {summary}")


@adapters.command("serve")
@click.argument("name", type=click.Choice(_SERVABLE))
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1; for mqtt-wearable the broker, default WARDWATCH_MQTT_HOST].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port to listen on [default: 2575 for hl7-oru, 8080 for fhir-r4; for mqtt-wearable the broker's port, default WARDWATCH_MQTT_PORT].")
@click.option("--log-every", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help="Seconds between two counter log lines.")
def adapters_serve(name: str, host: str | None, port: int | None, log_every: float) -> None:
    """Run adapter NAME's listener (HL7 MLLP, FHIR HTTP, or the MQTT wearable subscriber) and
    send its records to Kafka.

    Needs WARDWATCH_PSEUDONYM_SECRET; Kafka and the ward come from the WARDWATCH_KAFKA_* and
    WARDWATCH_WARD_* settings. Ctrl-C (or SIGTERM) stops it and logs the counters.
    """
    from wardwatch.streams.adapters.serve import serve

    settings = load_settings()
    settings.pseudonym.require_secret()  # fail before anything starts
    if host is None:
        host = settings.mqtt.host if name == "mqtt-wearable" else "127.0.0.1"
    stop = asyncio.Event()

    async def main() -> dict[str, object]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await serve(name, settings, host, port, stop=stop, log_every_s=log_every,
                           on_ready=lambda listener: click.echo(f"{name} listening on {host}:{listener.port}"))

    counters = asyncio.run(main())
    click.echo(f"{name} stopped: {counters}")
