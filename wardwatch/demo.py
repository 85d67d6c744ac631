"""``wardwatch demo``: the stack, a Faust worker, a scripted ward and the ward page, and where to look.

The ward is the scenario ward ``demo-ward`` (``docs/scenarios.md``) with its events brought forward
(onsets divided by :data:`DEMO_COMPRESSION`, at least 30 s), so alarms come within minutes: a false
SpO2 dip from movement, new AF, a desaturation, a VT run, a lead off, a probe off, a low battery, a
slow sepsis. The ward page runs beside it with demo staff tokens (a nurse, a doctor and a viewer)
kept in the state folder, unless ``WARDWATCH_API_TOKENS`` is set.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from wardwatch.config import Settings
from wardwatch.errors import StackError

__all__ = ["run_demo", "demo_secret", "demo_tokens", "demo_ward_file", "DEMO_COMPRESSION"]

#: The demo ward's event onsets are divided by this (the hour of ``demo-ward`` in about ten minutes).
DEMO_COMPRESSION = 6.0


def demo_secret(settings: Settings) -> str:
    """The pseudonym key: ``WARDWATCH_PSEUDONYM_SECRET`` if set, else one kept in the state folder."""
    value = settings.pseudonym.secret.get_secret_value()
    if value:
        settings.pseudonym.require_secret()
        return value
    path = settings.stack.state_dir / "demo-pseudonym-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def demo_tokens(settings: Settings) -> dict[str, str]:
    """Ward page logins of the demo, by role: generated once, kept (0600) in the state folder."""
    path = settings.stack.state_dir / "demo-staff-tokens.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({role: f"demo-{role}-{secrets.token_hex(12)}" for role in ("nurse", "doctor", "viewer")}))
        path.chmod(0o600)
    return dict(json.loads(path.read_text()))


def demo_ward_file(settings: Settings) -> Path:
    """Write the demo's ward file (JSON, ``wardwatch scenario run`` reads it) and return its path.

    ``demo-ward`` with the configured ward name, ``WARDWATCH_WARD_PATIENTS`` beds (the file's eight
    first, then stable ones), event onsets divided by :data:`DEMO_COMPRESSION` and no end.
    """
    import msgspec

    from wardwatch.streams.scenarios import resolve_plan

    plan = msgspec.to_builtins(resolve_plan("demo-ward"))
    beds = plan["beds"][: settings.ward.patients]
    for i in range(len(beds), settings.ward.patients):
        beds.append({"bed": f"{i + 1:02d}", "patient": f"SIM-DEMO-{i + 1:04d}"})
    for bed in beds:
        for event in bed.get("events", []):
            event["onset_s"] = max(30.0, round(event["onset_s"] / DEMO_COMPRESSION))
    ward = {k: v for k, v in plan.items() if k != "beds"}
    ward.update(name=settings.ward.name, seed=settings.ward.seed, duration_s=30 * 86_400.0,
                description=f"demo-ward, events {DEMO_COMPRESSION:g}x sooner")
    path = settings.stack.state_dir / f"demo-{settings.ward.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"ward": ward, "beds": beds}, indent=1))
    return path


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URL built from settings)
            return bool(response.status == 200)
    except OSError:
        return False


class _Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise StackError(f"the demo's {self.name} exited with code {self.proc.returncode}; its log {self.log} ends:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def run_demo(
    settings: Settings,
    duration_s: float | None,
    every_s: float = 10.0,
    start_stack: bool = True,
    echo: Callable[[str], None] = print,
) -> None:
    """Run the demo ward until ``duration_s`` has passed or the process is interrupted."""
    from wardwatch.agents.influx import InfluxWriter
    from wardwatch.dashboards.ward_status import latest_vitals, ward_status
    from wardwatch.stack import stack_up
    from wardwatch.streams.topics import ensure_topics, topic_name

    t0 = time.monotonic()
    if start_stack:
        stack_up(settings, report=echo)
    ensure_topics(settings.kafka)
    env = dict(os.environ)
    env["WARDWATCH_PSEUDONYM_SECRET"] = demo_secret(settings)
    for key, value in (
        ("WARDWATCH_WARD_PATIENTS", settings.ward.patients),
        ("WARDWATCH_WARD_SEED", settings.ward.seed),
        ("WARDWATCH_WARD_SPEED", settings.ward.speed),
        ("WARDWATCH_WARD_NAME", settings.ward.name),
    ):
        env[key] = str(value)
    logs = settings.stack.state_dir / "logs"
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    ward_file = demo_ward_file(settings)
    tokens = {} if settings.api.staff() else demo_tokens(settings)
    if tokens:
        env["WARDWATCH_API_TOKENS"] = json.dumps({t: {"role": role, "user": f"demo-{role}"} for role, t in tokens.items()})
    children = [
        _Child("worker", [sys.executable, "-m", "wardwatch", "worker"], env, logs / "demo-worker.log"),
        _Child("simulator", [sys.executable, "-m", "wardwatch", "scenario", "run", str(ward_file), "--speed", str(settings.ward.speed)],
               env, logs / "demo-simulator.log"),
        _Child("ward page", [sys.executable, "-m", "wardwatch", "ward", "serve"], env, logs / "demo-ward-page.log"),
    ]
    ward_url = f"http://{settings.api.host}:{settings.api.ward_port}/"
    influx = settings.influx
    try:
        writer = InfluxWriter(influx)
        first: float | None = None
        first_seen: float | None = None
        while first is None and not stop:
            for child in children:
                child.check()
            try:
                beds = len(latest_vitals(writer, settings.ward.name, "5m"))
            except Exception:  # InfluxDB still starting, or database not created yet
                beds = 0
            if beds and first_seen is None:
                first_seen = time.monotonic() - t0
            # go on once every bed is there (the first status lists the whole ward), or 30 s after the first
            if first_seen is not None and (beds >= settings.ward.patients or time.monotonic() - t0 > first_seen + 30):
                first = first_seen
                break
            if time.monotonic() - t0 > 120:
                raise StackError(f"no vital sign reached InfluxDB within 120 s; see {logs}/demo-worker.log and demo-simulator.log")
            time.sleep(0.5)
        writer.close()
        while first is not None and not stop and not _answers(ward_url + "api/health"):
            for child in children:
                child.check()
            if time.monotonic() - t0 > 180:
                raise StackError(f"the ward page does not answer at {ward_url}; see {logs}/demo-ward-page.log")
            time.sleep(0.5)
        if first is not None:
            db = influx.database
            echo("")
            echo(f"WardWatch demo ward {settings.ward.name!r}: {settings.ward.patients} simulated patients; first vital sign in InfluxDB after {first:.1f} s.")
            echo("Where to look:")
            echo(f"  InfluxDB  {influx.url}  database {db!r}, measurement 'vitals' (tags ward, bed, patient, signal; field value)")
            echo(f"            curl -sG {influx.url}/query --data-urlencode db={db} --data-urlencode \"q=SELECT last(value) FROM vitals GROUP BY bed, signal\"")
            echo(f"  Kafka     {settings.kafka.bootstrap_servers}  topics {topic_name(settings.kafka.topic_prefix, 'numerics')}, {topic_name(settings.kafka.topic_prefix, 'dlq')} (dead letters)")
            echo(f"  Logs      {logs}/demo-worker.log, demo-simulator.log, demo-ward-page.log, and the services' logs beside them")
            echo(f"  Ward page {ward_url}  (live beds and alarms; click a bed for its trends, waveform and alarm notes)")
            if tokens:
                echo(f"            log in with token {tokens['nurse']} (nurse) or {tokens['doctor']} (doctor): both may acknowledge;")
                echo(f"            {tokens['viewer']} (viewer) may only look. Kept in {settings.stack.state_dir / 'demo-staff-tokens.json'}")
            else:
                echo("            log in with a token from WARDWATCH_API_TOKENS")
            echo(f"  Alarms    scripted events from {ward_file.name}: movement ~{75 / settings.ward.speed:.0f} s, desaturation ~{150 / settings.ward.speed:.0f} s, "
                 f"VT run ~{200 / settings.ward.speed:.0f} s after the start, then lead off, low battery, probe off")
            echo("  Status    `wardwatch status` (printed below every %g s); Ctrl-C ends the demo, `wardwatch stack down` stops the services" % every_s)
        next_print = time.monotonic()
        while not stop and (duration_s is None or time.monotonic() - t0 < duration_s):
            for child in children:
                child.check()
            if time.monotonic() >= next_print:
                echo(f"--- {time.strftime('%H:%M:%S')} ward {settings.ward.name}")
                for line in ward_status(settings, "5m"):
                    echo(line)
                next_print += every_s
            time.sleep(0.2)
    finally:
        for child in reversed(children):
            child.stop()
        ward_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
