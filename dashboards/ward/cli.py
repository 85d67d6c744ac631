"""``wardwatch ward serve``: the command of the ward page (registered by :mod:`wardwatch.cli_dashboards`)."""

from __future__ import annotations

import click

__all__ = ["ward_group"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group("ward", context_settings=_CONTEXT)
def ward_group() -> None:
    """The live ward page: beds, vitals, NEWS2 and alarms; acknowledge from it (docs/ward-page.md)."""


@ward_group.command("serve", context_settings=_CONTEXT)
@click.option("--host", default=None, envvar="WARDWATCH_API_HOST", show_envvar=True, help="Listen address [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, envvar="WARDWATCH_API_WARD_PORT", show_envvar=True,
              help="Port [default: 8090].")
def ward_serve(host: str | None, port: int | None) -> None:
    """Serve the ward page of WARDWATCH_WARD_NAME: live tiles from Kafka, a bed's trends, waveform and
    alarm notes; login with a staff token from WARDWATCH_API_TOKENS (nurse and doctor may acknowledge,
    viewer may only look); acknowledgements go to the alert-acks topic."""
    import asyncio
    import signal

    from wardwatch.config import load_settings
    from wardwatch.dashboards.ward.run import serve_ward

    settings = load_settings()
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_ward(settings, host=host, port=port, stop=stop,
                         on_ready=lambda page: click.echo(f"ward page of {settings.ward.name} on http://{host or settings.api.host}:{page.port}/"))

    asyncio.run(main())
