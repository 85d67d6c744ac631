"""``wardwatch replay`` and ``wardwatch scenario``: real recordings and scripted wards into Kafka."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from wardwatch.config import load_settings

__all__ = ["replay", "scenario", "register"]

logger = logging.getLogger(__name__)

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
T = TypeVar("T")


def _run_until_signal(make: Any) -> T:  # make(stop) -> coroutine
    stop = asyncio.Event()

    async def main() -> T:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        coro: Coroutine[Any, Any, T] = make(stop)
        return await coro

    return asyncio.run(main())


def _speed(speed: float | None, fast: bool) -> float | None:
    if fast:
        return None
    return 1.0 if speed is None else speed


@click.command(context_settings=_CONTEXT)
@click.argument("record")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None, help="Replay seconds per second [default: 1, real time].")
@click.option("--fast", is_flag=True, help="As fast as Kafka takes it.")
@click.option("--start", default="now", show_default=True,
              help="When the first replayed sample happened: now, record (the record's own base time), ISO 8601 or epoch ns.")
@click.option("--from", "from_s", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Start this many seconds into the record.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None, help="Replay this many seconds [default: to the end].")
@click.option("--bed", default="replay", show_default=True, help="Bed label on the records.")
@click.option("--device", "device_id", default="wfdb-replay", show_default=True, help="Device id on the records.")
@click.option("--channel", "channels", multiple=True, help="Replay only this channel (repeatable) [default: every known one].")
@click.option("--keep-zeros", is_flag=True, help="Numerics records: send 0 values (MIMIC-II writes 0 for 'not measured').")
def replay(record: str, speed: float | None, fast: bool, start: str, from_s: float, duration: float | None, bed: str, device_id: str,
           channels: tuple[str, ...], keep_zeros: bool) -> None:
    """Replay a WFDB RECORD (a path, or a name under the data folder such as challenge2015/a104s)
    as canonical records to Kafka. The record name is the patient identifier: it is pseudonymized
    (WARDWATCH_PSEUDONYM_SECRET) and appears on no record."""
    from wardwatch.streams.adapters.wfdb_replay import replay as run_replay

    if fast and speed is not None:
        raise click.UsageError("give --speed or --fast, not both")
    settings = load_settings()
    settings.pseudonym.require_secret()
    summary = _run_until_signal(lambda stop: run_replay(
        settings, record, _speed(speed, fast), start=start, bed=bed, device_id=device_id, from_s=from_s, duration_s=duration,
        channels=channels or None, zero_is_missing=not keep_zeros, stop=stop))
    for name, why in summary.skipped_channels.items():
        click.echo(f"skipped channel {name}: {why}")
    counts = ", ".join(f"{signal} {n}" for signal, n in sorted(summary.by_signal.items()))
    click.echo(f"sent {summary.sent} records as patient {summary.patient_ref}: {counts or 'none'}")
    if summary.rejected:
        click.echo(f"implausible values skipped: {dict(summary.rejected)}")


@click.group(context_settings=_CONTEXT)
def scenario() -> None:
    """Scripted ward scenarios with waveforms and ground-truth labels."""


@scenario.command("list")
def scenario_list() -> None:
    """The built-in scenarios and ward files."""
    from wardwatch.streams.scenarios import load_ward, scenario_catalog, ward_files

    catalog = scenario_catalog()
    width = max(len(n) for n in catalog)
    click.echo("scenarios (run one alone: wardwatch scenario run NAME):")
    for name, spec in sorted(catalog.items()):
        click.echo(f"  {name:<{width}}  {spec.kind:<6}  {spec.duration_s:>6g} s  label {spec.label:<24} {spec.description}")
    click.echo("ward files (wardwatch scenario run FILE):")
    for path in ward_files():
        plan = load_ward(path, catalog)
        click.echo(f"  {path.name:<{width}}  {len(plan.beds)} beds, {plan.duration_s:g} s  {plan.description}")


@scenario.command("run")
@click.argument("target")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None, help="Simulated seconds per second [default: 1].")
@click.option("--fast", is_flag=True, help="As fast as Kafka takes it.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None, help="Simulated seconds [default: the file's].")
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the ground-truth labels here (JSON lines) before the run starts.")
@click.option("--seed", type=int, default=None, help="Override the file's seed.")
@click.option("--no-waveforms", is_flag=True, help="Numerics only (cheaper for long runs).")
def scenario_run(target: str, speed: float | None, fast: bool, duration: float | None, labels_path: Path | None, seed: int | None,
                 no_waveforms: bool) -> None:
    """Run TARGET — a ward file, a ward file's name (demo-ward) or a scenario name (new-af) — and
    send its records to Kafka (WARDWATCH_KAFKA_*; patient identifiers pseudonymized)."""
    from wardwatch.streams.scenarios import resolve_plan, run_scenario

    if fast and speed is not None:
        raise click.UsageError("give --speed or --fast, not both")
    settings = load_settings()
    settings.pseudonym.require_secret()
    plan = resolve_plan(target)
    if seed is not None:
        plan = msgspec.structs.replace(plan, seed=seed)
    click.echo(f"ward {plan.name}: {len(plan.beds)} beds, {duration or plan.duration_s:g} s"
               f"{' at full speed' if fast else f' at {speed or 1:g}x'}")
    summary = _run_until_signal(lambda stop: run_scenario(
        settings, plan, speed=_speed(speed, fast), duration_s=duration, labels_path=labels_path,
        waveforms=False if no_waveforms else None, stop=stop))
    for label in summary.labels:
        onset, end = ((t - summary.start_ns) / 1e9 for t in (label.onset_ns, label.end_ns))
        click.echo(f"  bed {label.bed}  {label.label:<24} {onset:>7g} s .. {end:g} s")
    click.echo(f"sent {summary.records} records over {summary.seconds} simulated s; {len(summary.labels)} labels"
               + (f" in {labels_path}" if labels_path else ""))


def register(cli: click.Group) -> None:
    """Add ``replay`` and ``scenario`` to the ``wardwatch`` command group."""
    cli.add_command(replay)
    cli.add_command(scenario)
