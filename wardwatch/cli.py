"""The ``wardwatch`` command line."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import click

from wardwatch.cli_adapters import adapters as adapters_group
from wardwatch.cli_alarms import register as register_alarms
from wardwatch.cli_burden import register as register_burden
from wardwatch.cli_dashboards import register as register_dashboards
from wardwatch.cli_dlq import dlq as dlq_group
from wardwatch.cli_eval import eval_group
from wardwatch.cli_models import register as register_models
from wardwatch.cli_notes import register as register_notes
from wardwatch.cli_sources import register as register_sources
from wardwatch.config import Settings, describe_settings, load_settings
from wardwatch.errors import ConfigurationError, WardWatchError
from wardwatch.logging import configure_logging

logger = logging.getLogger(__name__)

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _settings(**overrides: dict[str, Any]) -> Settings:
    return load_settings(**{k: {f: v for f, v in o.items() if v is not None} for k, o in overrides.items()})


@click.group(context_settings=_CONTEXT)
@click.option("--log-level", default="INFO", show_default=True, envvar="WARDWATCH_LOG_LEVEL", show_envvar=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def cli(log_level: str) -> None:
    """WardWatch: patient-monitoring stream processor.

    Every setting is an environment variable (WARDWATCH_*); `wardwatch config show` lists them
    with their effective values.
    """
    configure_logging(log_level)


# --- config ---------------------------------------------------------------------------------
@cli.group(context_settings=_CONTEXT)
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
def config_show() -> None:
    """Print the effective configuration (secrets masked) with each setting's variable."""
    rows = describe_settings(load_settings())
    width = max(len(r[0]) for r in rows)
    for name, value, description in rows:
        click.echo(f"{name:<{width}}  {value:<32}  {description}")


# --- stack ----------------------------------------------------------------------------------
@cli.group(context_settings=_CONTEXT)
def stack() -> None:
    """Start, stop and check the local stack (Kafka, InfluxDB, Mosquitto)."""


_SERVICES_ARG = click.argument("services", nargs=-1, type=click.Choice(["kafka", "influxdb", "mosquitto"]))


@stack.command("up")
@_SERVICES_ARG
def stack_up_cmd(services: tuple[str, ...]) -> None:
    """Install what is missing, start what is not running, wait until each answers."""
    from wardwatch.stack import stack_up

    stack_up(load_settings(), services or None, report=click.echo)


@stack.command("down")
@_SERVICES_ARG
def stack_down_cmd(services: tuple[str, ...]) -> None:
    """Stop the services this stack started."""
    from wardwatch.stack import stack_down

    stack_down(load_settings(), services or None, report=click.echo)


@stack.command("status")
@_SERVICES_ARG
def stack_status_cmd(services: tuple[str, ...]) -> None:
    """Show each service's process, whether it answers, and its log. Exit 1 if one does not answer."""
    from wardwatch.stack import stack_status

    statuses = stack_status(load_settings(), services or None)
    for s in statuses:
        state = "answering" if s.answering else "DOWN"
        pid = f"pid {s.pid}" if s.pid else "no pid"
        click.echo(f"{s.name:<10} {state:<10} {s.address:<16} {pid:<10} log {s.log} {s.detail}".rstrip())
    if not all(s.answering for s in statuses):
        sys.exit(1)


# --- topics ---------------------------------------------------------------------------------
@cli.group(context_settings=_CONTEXT)
def topics() -> None:
    """Create and list WardWatch's Kafka topics."""


@topics.command("create")
def topics_create() -> None:
    """Create the topics that do not exist yet (idempotent)."""
    from wardwatch.streams.topics import ensure_topics, topic_names

    settings = load_settings()
    created = set(ensure_topics(settings.kafka))
    for name in topic_names(settings.kafka.topic_prefix).values():
        click.echo(f"{name:<40} {'created' if name in created else 'exists'}")


@topics.command("list")
def topics_list() -> None:
    """List WardWatch's topics, what each carries and its retention."""
    from wardwatch.streams.topics import TOPICS, topic_name

    prefix = load_settings().kafka.topic_prefix
    for key, spec in TOPICS.items():
        click.echo(f"{topic_name(prefix, key):<40} {spec.retention_ms // 86_400_000:>3} d  {spec.carries}")


# --- worker, simulator ------------------------------------------------------------------------
@cli.command(context_settings=_CONTEXT)
def worker() -> None:
    """Run a Faust worker with WardWatch's agents (creates the topics first)."""
    from faust.worker import Worker

    from wardwatch.agents.app import create_app
    from wardwatch.streams.topics import ensure_topics

    settings = load_settings()
    ensure_topics(settings.kafka)
    app = create_app(settings)
    level = logging.getLevelName(logging.getLogger().level).lower()
    Worker(app, loglevel=level, quiet=True).execute_from_commandline()


def _ward_options(func: Any) -> Any:
    options = [
        click.option("--patients", type=int, envvar="WARDWATCH_WARD_PATIENTS", show_envvar=True, help="Number of patients [default: 8]."),
        click.option("--seed", type=int, envvar="WARDWATCH_WARD_SEED", show_envvar=True, help="Simulator seed [default: 42]."),
        click.option("--speed", type=float, envvar="WARDWATCH_WARD_SPEED", show_envvar=True, help="Simulated seconds per second [default: 1]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command(context_settings=_CONTEXT)
@_ward_options
@click.option("--duration", type=float, default=None, help="Stop after this many simulated seconds [default: run until stopped].")
def simulate(patients: int | None, seed: int | None, speed: float | None, duration: float | None) -> None:
    """Simulate a ward and send its numeric vital signs to Kafka."""
    from wardwatch.streams.publish import run_simulation

    settings = _settings(ward={"patients": patients, "seed": seed, "speed": speed})
    secret = settings.pseudonym.require_secret()
    stop = asyncio.Event()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_simulation(settings.kafka, settings.ward, secret, duration_s=duration, stop=stop)

    sent = asyncio.run(main())
    click.echo(f"sent {sent} numeric observations")


# --- ward status ------------------------------------------------------------------------------
@cli.command(context_settings=_CONTEXT)
@click.option("--window", default="10m", show_default=True, help="Look this far back (InfluxQL duration).")
def status(window: str) -> None:
    """One line per patient: the latest vital signs in InfluxDB."""
    from wardwatch.dashboards.ward_status import ward_status

    settings = load_settings()
    lines = ward_status(settings, window)
    for line in lines or [f"no vital signs in InfluxDB database {settings.influx.database!r} in the last {window}"]:
        click.echo(line)


# --- demo ---------------------------------------------------------------------------------------
@cli.command(context_settings=_CONTEXT)
@_ward_options
@click.option("--duration", type=float, default=None, help="Stop after this many seconds [default: until Ctrl-C].")
@click.option("--every", type=float, default=10.0, show_default=True, help="Seconds between two status prints.")
@click.option("--no-stack", is_flag=True, help="Do not start the local stack (use services already running).")
def demo(patients: int | None, seed: int | None, speed: float | None, duration: float | None, every: float, no_stack: bool) -> None:
    """Run a live demo ward: the stack, a Faust worker and a simulated ward; print where to look."""
    from wardwatch.demo import run_demo

    settings = _settings(ward={"patients": patients, "seed": seed, "speed": speed})
    run_demo(settings, duration_s=duration, every_s=every, start_stack=not no_stack, echo=click.echo)


cli.add_command(adapters_group)
register_sources(cli)  # wardwatch replay, wardwatch scenario
register_alarms(cli)  # wardwatch alarms log
register_burden(cli)  # wardwatch alarms burden, wardwatch api serve
cli.add_command(dlq_group)  # wardwatch dlq show
cli.add_command(eval_group)  # wardwatch eval qrs
register_models(cli)  # wardwatch train, wardwatch eval challenge2015|af, wardwatch detectors
register_notes(cli)  # wardwatch notes
register_dashboards(cli)  # wardwatch dashboards, wardwatch ward


def main() -> None:
    """Entry point: run the CLI; report WardWatch errors in one clear line."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigurationError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    except WardWatchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


__all__ = ["cli", "main"]
