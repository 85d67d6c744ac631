"""``wardwatch alarms log``: read the alarm log (IEC 60601-1-8) back from InfluxDB.

>>> parse_duration_s("90m")
5400.0
"""

from __future__ import annotations

import logging
import re
import time

import click
import requests

from wardwatch.config import load_settings
from wardwatch.errors import ServiceUnavailableError

__all__ = ["alarms", "register", "parse_duration_s"]

logger = logging.getLogger(__name__)

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration_s(text: str) -> float:
    """``"30s"``, ``"15m"``, ``"1h"``, ``"2d"``, ``"1w"`` or plain seconds → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 1h, 2d or 1w")
    return float(match.group(1)) * _UNITS_S[match.group(2) or "s"]


class _Duration(click.ParamType):
    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration_s(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.group(context_settings=_CONTEXT)
def alarms() -> None:
    """The alarm log: alarm state changes and notifications."""


@alarms.command("log")
@click.option("--patient", "patient_ref", default=None, help="Only this patient (pseudonymous reference p-...).")
@click.option("--bed", default=None, help="Only this bed.")
@click.option("--ward", default=None, help="Only this ward.")
@click.option("--since", "since_s", type=_Duration(), default="1h", show_default=True, help="Look this far back (30s, 15m, 1h, 2d, 1w).")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="Print at most this many entries.")
def alarms_log(patient_ref: str | None, bed: str | None, ward: str | None, since_s: float, limit: int) -> None:
    """Print the alarm log, oldest first: one line per state change or notification."""
    from wardwatch.agents.influx import InfluxWriter
    from wardwatch.alerting.alarmlog import describe, query_alarm_log

    settings = load_settings()
    end_ns = time.time_ns() + 1
    start_ns = end_ns - int(since_s * 1e9)
    writer = InfluxWriter(settings.influx)
    try:
        entries = query_alarm_log(writer, start_ns=start_ns, end_ns=end_ns, patient_ref=patient_ref, bed=bed, ward=ward, limit=limit)
    except requests.RequestException as exc:
        raise ServiceUnavailableError(f"InfluxDB at {settings.influx.url} does not answer ({type(exc).__name__}); start it with `wardwatch stack up`") from exc
    finally:
        writer.close()
    if not entries:
        click.echo(f"no alarm-log entries in InfluxDB database {settings.influx.database!r} in the last {since_s:g} s")
        return
    for entry in entries:
        click.echo(describe(entry))


def register(cli: click.Group) -> None:
    """Add ``alarms`` to the ``wardwatch`` command group."""
    cli.add_command(alarms)
