"""``wardwatch demo``: the stack, a Faust worker and a simulated ward, and where to look."""

from __future__ import annotations

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

__all__ = ["run_demo", "demo_secret"]


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
    children = [
        _Child("worker", [sys.executable, "-m", "wardwatch", "worker"], env, logs / "demo-worker.log"),
        _Child("simulator", [sys.executable, "-m", "wardwatch", "simulate"], env, logs / "demo-simulator.log"),
    ]
    influx = settings.influx
    try:
        writer = InfluxWriter(influx)
        first: float | None = None
        while first is None and not stop:
            for child in children:
                child.check()
            try:
                if latest_vitals(writer, settings.ward.name, "5m"):
                    first = time.monotonic() - t0
                    break
            except Exception:  # InfluxDB still starting, or database not created yet
                pass
            if time.monotonic() - t0 > 120:
                raise StackError(f"no vital sign reached InfluxDB within 120 s; see {logs}/demo-worker.log and demo-simulator.log")
            time.sleep(0.5)
        writer.close()
        if first is not None:
            db = influx.database
            echo("")
            echo(f"WardWatch demo ward {settings.ward.name!r}: {settings.ward.patients} simulated patients; first vital sign in InfluxDB after {first:.1f} s.")
            echo("Where to look:")
            echo(f"  InfluxDB  {influx.url}  database {db!r}, measurement 'vitals' (tags ward, bed, patient, signal; field value)")
            echo(f"            curl -sG {influx.url}/query --data-urlencode db={db} --data-urlencode \"q=SELECT last(value) FROM vitals GROUP BY bed, signal\"")
            echo(f"  Kafka     {settings.kafka.bootstrap_servers}  topics {topic_name(settings.kafka.topic_prefix, 'numerics')}, {topic_name(settings.kafka.topic_prefix, 'dlq')} (dead letters)")
            echo(f"  Logs      {logs}/demo-worker.log, {logs}/demo-simulator.log, and the services' logs beside them")
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
        for sig, handler in previous.items():
            signal.signal(sig, handler)
