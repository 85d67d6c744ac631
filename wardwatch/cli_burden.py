"""``wardwatch alarms burden`` (alarm burden of rule sets, offline) and ``wardwatch api serve``.

The burden report comes out as a table on stdout, and with ``--out`` as Markdown (``.md``) or
JSON (``.json``). :func:`render_text`, :func:`render_markdown` and :func:`render_json` are plain
functions over :class:`SourceResult` lists, used by ``bench/alarm_burden.py`` too.

>>> fmt_delay(float("nan")), fmt_delay(59.0)
('-', '+59 s')
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wardwatch.config import load_settings

if TYPE_CHECKING:  # the simulator pulls in numpy and scipy: load it only when a command needs it
    from wardwatch.alerting.burden import BurdenSummary, Source

__all__ = ["burden", "api", "register", "SourceResult", "load_rule_sets", "render_text", "render_markdown", "render_json",
           "fmt_delay", "label_table_rows"]

logger = logging.getLogger(__name__)

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
_SHIPPED = {"default": "ward-default.yaml", "naive": "naive-thresholds.yaml"}


@dataclass
class SourceResult:
    """One source and the summary of each rule set on it."""

    source: Source
    summaries: dict[str, BurdenSummary]


def load_rule_sets(specs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Rule sets by name from files, or ``default`` / ``naive`` for the shipped ones; names are file stems."""
    from wardwatch.alerting.config import load_config

    out: dict[str, Any] = {}
    for spec in specs:
        if spec in _SHIPPED:
            with resources.as_file(resources.files("wardwatch.alerting") / "defaults" / _SHIPPED[spec]) as path:
                cfg = load_config(path)
            name = Path(_SHIPPED[spec]).stem
        else:
            cfg = load_config(spec)
            name = Path(spec).stem
        base, k = name, 2
        while name in out:
            name, k = f"{base}-{k}", k + 1
        out[name] = cfg
    return out


def fmt_delay(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"+{seconds:.0f} s"


def _rate(s: BurdenSummary, n: float) -> str:
    r = s.per_day(n)
    return "-" if math.isnan(r) else f"{r:.1f}"


def _hml(s: BurdenSummary, kind: str) -> str:
    return "/".join(_rate(s, s.by_kind_priority[kind][p]) for p in ("high", "medium", "low"))


def _source_line(r: SourceResult) -> str:
    src, any_s = r.source, next(iter(r.summaries.values()))
    wf = "waveforms analysed" if src.waveforms else "numerics only (waveforms not analysed)"
    return f"{src.name} — {src.kind}, {src.detail}; {wf}; {any_s.patients} patient(s), {any_s.patient_days:.3g} patient-days ({any_s.patient_days * 24:.3g} h)"


def _row(name: str, s: BurdenSummary) -> list[str]:
    caught = f"{s.caught}/{len(s.outcomes)}" if s.labelled else "n/a"
    delay = f"{fmt_delay(s.median_delay_s)} / {fmt_delay(s.max_delay_s)}" if s.labelled else "n/a"
    repeats = str(s.repeats) if s.labelled else "n/a"
    false = str(s.false_by_construction) if s.labelled else "n/a (no ground truth)"
    return [name, str(s.alarms), _rate(s, s.alarms), _hml(s, "physiological"), _hml(s, "technical"), caught, delay, repeats, false]


_HEAD = ["rule set", "alarms", "per patient-day", "physiological H/M/L per pt-day", "technical H/M/L per pt-day",
         "labels caught", "delay median / max", "repeats", "false by construction"]


def label_table_rows(r: SourceResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the labelled-events table: which alarm caught each label, how late."""
    names = list(r.summaries)
    first = r.summaries[names[0]]
    head = ["bed", "label", "onset s", "duration s", *names]
    rows = []
    start = r.source.end_ns - round(max(r.source.monitored_s.values(), default=0) * 1e9)
    for i, o in enumerate(first.outcomes):
        cells = [o.label.bed, o.label.label, f"{(o.label.onset_ns - start) / 1e9:.0f}", f"{(o.label.end_ns - o.label.onset_ns) / 1e9:.0f}"]
        for name in names:
            oc = r.summaries[name].outcomes[i]
            cells.append(f"{oc.caught_by} {fmt_delay(oc.delay_s)}" if oc.caught_by else "missed")
        rows.append(cells)
    return head, rows


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(c) for c in col) for col in zip(head, *rows)]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *rows]]


def render_text(results: list[SourceResult], grace_s: float) -> str:
    lines: list[str] = []
    for r in results:
        lines += [_source_line(r), *("  " + x for x in _table(_HEAD, [_row(n, s) for n, s in r.summaries.items()]))]
        for name, s in r.summaries.items():
            top = ", ".join(f"{rule} {n}" for rule, n in s.by_rule[:6]) or "no alarms"
            lines.append(f"  top rules, {name}: {top}")
        if next(iter(r.summaries.values())).outcomes:
            head, rows = label_table_rows(r)
            lines += ["  labelled events (alarm that caught it, delay from label onset):", *("    " + x for x in _table(head, rows))]
        lines.append("")
    lines.append(f"caught: an alarm of a source in the label's mapping with onset in [label onset, label end + {grace_s:g} s]; "
                 "repeats: further such alarms of a caught event; false by construction: alarms outside every label or "
                 "during motion artefact")
    return "\n".join(lines)


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|", *("| " + " | ".join(r) + " |" for r in rows)]


def render_markdown(results: list[SourceResult], grace_s: float, title: str = "Alarm burden") -> str:
    lines = [f"# {title}", ""]
    for r in results:
        lines += [f"## {r.source.name}", "", _source_line(r), ""]
        lines += _md_table(_HEAD, [_row(n, s) for n, s in r.summaries.items()]) + [""]
        for name, s in r.summaries.items():
            lines.append(f"- top rules, {name}: " + (", ".join(f"`{rule}` {n}" for rule, n in s.by_rule[:6]) or "no alarms"))
        lines.append("")
        if next(iter(r.summaries.values())).outcomes:
            head, rows = label_table_rows(r)
            lines += _md_table(head, rows) + [""]
    lines += [f"Caught: an alarm of a source in the label's mapping (`wardwatch.alerting.burden.CATCHES`) with onset in "
              f"[label onset, label end + {grace_s:g} s]. Repeats: further such alarms of an event already caught. "
              "False by construction: alarms outside every label or during motion artefact.", ""]
    return "\n".join(lines)


def render_json(results: list[SourceResult], grace_s: float, tick_s: float) -> str:
    from wardwatch.alerting.burden import CATCHES

    doc = {"grace_s": grace_s, "tick_s": tick_s, "catches": {k: list(v) for k, v in CATCHES.items()},
           "sources": [{"name": r.source.name, "kind": r.source.kind, "detail": r.source.detail, "waveforms": r.source.waveforms,
                        "rule_sets": {n: s.to_dict() for n, s in r.summaries.items()}} for r in results]}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


@click.command("burden", context_settings=_CONTEXT)
@click.argument("sources", nargs=-1, required=True)
@click.option("--rules", "rules", multiple=True,
              help="A rule set: a YAML file, or 'default' / 'naive' for the shipped ones (repeatable) "
                   "[default: WARDWATCH_ALERT_RULES_PATH, else the shipped default].")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report here: .json for JSON, anything else Markdown.")
@click.option("--seed", type=int, default=None, help="Override the scenario files' seed.")
@click.option("--no-waveforms", is_flag=True, help="Numerics only: faster; waveform features (ECG quality...) are not computed.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None, help="Simulated/replayed seconds [default: all].")
@click.option("--grace", "grace_s", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="Seconds after a label's end an alarm still counts as catching it.")
@click.option("--tick", "tick_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Event-time seconds between alarm-clock ticks [default: WARDWATCH_ALERT_TICK_S].")
def burden(sources: tuple[str, ...], rules: tuple[str, ...], out: Path | None, seed: int | None, no_waveforms: bool,
           duration: float | None, grace_s: float, tick_s: float | None) -> None:
    """Run SOURCES — WFDB records under the data folder (mimic-mitdb/s00001-2896-10-10-00-31n),
    scenario names (sepsis) or ward files (demo-ward) — through the alarm rules offline, in event
    time, and report the alarm burden per rule set: alarms per patient-day by kind and priority,
    the top rules, and for scenarios which labelled events were caught and how late."""
    from wardwatch.alerting.burden import open_source, run_burden
    from wardwatch.models.scoring import ScoringConfig

    settings = load_settings()
    for name in ("wardwatch.alerting.state", "wardwatch.alerting.engine", "wardwatch.alerting.rules"):
        quiet = logging.getLogger(name)  # one line per alarm state change would drown the report
        quiet.setLevel(max(logging.WARNING, quiet.getEffectiveLevel()))
    configs = load_rule_sets(rules or [settings.alert.rules_path or "default"])
    tick = settings.alert.tick_s if tick_s is None else tick_s
    s = settings.score
    scoring = ScoringConfig(window_s=s.window_s, emit_every_s=s.emit_every_s,
                            window_s_by_signal={"MDC_PRESS_BLD_NONINV_SYS": s.nibp_window_s, "MDC_TEMP_BODY": s.temp_window_s})
    secret = settings.pseudonym.secret.get_secret_value().encode()
    if len(secret) < 16:  # offline: references only need to be consistent within this run
        secret = secrets.token_bytes(32)
    results = []
    for target in sources:
        src = open_source(target, secret, seed=seed, waveforms=not no_waveforms, duration_s=duration)
        results.append(SourceResult(src, run_burden(src, configs, scoring=scoring, tick_s=tick, grace_s=grace_s)))
    click.echo(render_text(results, grace_s))
    if out is not None:
        text = render_json(results, grace_s, tick) if out.suffix == ".json" else render_markdown(results, grace_s)
        out.write_text(text, encoding="utf-8")
        click.echo(f"report written to {out}")


@click.group("api", context_settings=_CONTEXT)
def api() -> None:
    """The acknowledgement HTTP API."""


@api.command("serve")
@click.option("--host", default=None, envvar="WARDWATCH_API_HOST", show_envvar=True, help="Listen address [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, envvar="WARDWATCH_API_PORT", show_envvar=True,
              help="Port [default: 8081].")
def api_serve(host: str | None, port: int | None) -> None:
    """Serve POST /api/alerts/{alert_id}/ack: bearer tokens from WARDWATCH_API_TOKENS (nurse and
    doctor may acknowledge, viewer may not); each acknowledgement goes to the alert-acks topic."""
    import asyncio
    import signal

    from wardwatch.agents.ack_api import serve_api

    settings = load_settings()
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        counters = await serve_api(settings, host=host, port=port, stop=stop,
                                   on_ready=lambda a: click.echo(f"acknowledgement API listening on {host or settings.api.host}:{a.port}"))
        click.echo("stopped: " + (", ".join(f"{k} {v}" for k, v in sorted(counters.items())) or "no requests"))

    asyncio.run(main())


def register(cli: click.Group) -> None:
    """Add ``alarms burden`` (to the ``alarms`` group) and ``api`` to the ``wardwatch`` command group."""
    from wardwatch.cli_alarms import alarms

    alarms.add_command(burden)
    cli.add_command(api)
