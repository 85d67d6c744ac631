"""The local stack: Apache Kafka (KRaft), InfluxDB and Mosquitto as plain processes on loopback.

``wardwatch stack up`` resolves Kafka's jars from Maven Central (once; cached under the state
folder), writes each service's configuration from the templates in ``deploy/local/``, starts what
is not running, and waits until each one answers. ``up`` is idempotent: a service that already
answers on its port is left alone. Data, logs and pid files live in ``WARDWATCH_STACK_STATE_DIR``
(``.stack/`` in the repository, ignored by git).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wardwatch.config import Settings
from wardwatch.errors import StackError

__all__ = ["ServiceStatus", "stack_up", "stack_down", "stack_status", "SERVICES"]

logger = logging.getLogger(__name__)

SERVICES = ("kafka", "influxdb", "mosquitto")

_INSTALL_HINT = {
    "java": "Java 17 or newer is needed to run Kafka: apt-get install -y openjdk-17-jre-headless",
    "mvn": "Maven is needed to fetch Kafka's jars from Maven Central: apt-get install -y maven",
    "influxd": "InfluxDB is not installed: apt-get update && apt-get install -y influxdb",
    "mosquitto": "Mosquitto is not installed: apt-get update && apt-get install -y mosquitto",
}


@dataclass(frozen=True)
class ServiceStatus:
    """What ``stack status`` reports for one service."""

    name: str
    address: str
    pid: int | None
    answering: bool
    log: Path
    detail: str = ""


def _which(tool: str) -> str:
    found = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if not found:
        raise StackError(_INSTALL_HINT[tool])
    return found


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _render(template: Path, target: Path, **values: object) -> None:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


class _Service:
    name: str
    port_setting: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = settings.stack.state_dir.resolve()
        self.home = settings.stack.home.resolve()
        self.pid_file = self.state / "run" / f"{self.name}.pid"
        self.log_file = self.state / "logs" / f"{self.name}.log"

    # -- to override -------------------------------------------------------------------
    host: str
    port: int

    def prepare(self) -> list[str]:
        """Install or configure what is needed; return the command line that runs the service."""
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def status(self) -> ServiceStatus:
        pid = self.pid()
        answering = self.healthy() if _port_open(self.host, self.port) else False
        detail = "" if pid or not answering else "answering, but not started by this stack"
        return ServiceStatus(self.name, self.address, pid, answering, self.log_file, detail)

    def up(self, timeout_s: float) -> str:
        if self.pid() and self.healthy():
            return "already running"
        if self.pid() is None and _port_open(self.host, self.port):
            if self.healthy():
                return f"already answering on {self.address} (not started by this stack; left alone)"
            raise StackError(
                f"{self.name}: port {self.port} on {self.host} is taken by another program; "
                f"stop it or choose another port with {self.port_setting}"
            )
        argv = self.prepare() if self.pid() is None else None
        if argv is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "ab") as log:
                proc = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
                )
            self.pid_file.write_text(str(proc.pid))
            logger.info("started %s (pid %d), log %s", self.name, proc.pid, self.log_file)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise StackError(f"{self.name} exited during start; see its log {self.log_file}:\n{self._log_tail()}")
            if _port_open(self.host, self.port) and self.healthy():
                return "started"
            time.sleep(0.5)
        raise StackError(
            f"{self.name} did not answer on {self.address} within {timeout_s:.0f} s "
            f"(WARDWATCH_STACK_START_TIMEOUT_S); see {self.log_file}:\n{self._log_tail()}"
        )

    def down(self, timeout_s: float = 30.0) -> str:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)
        return "stopped"

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class _Kafka(_Service):
    name = "kafka"
    port_setting = "WARDWATCH_KAFKA_BOOTSTRAP_SERVERS"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.host, self.port = settings.kafka.first_server
        self.version = settings.stack.kafka_version
        self.lib = self.state / "kafka" / self.version / "lib"
        self.data = self.state / "kafka" / "data"
        self.config = self.state / "kafka" / "server.properties"

    def _resolve_jars(self) -> None:
        marker = self.lib / ".complete"
        if marker.exists():
            return
        mvn = _which("mvn")
        logger.info("resolving Apache Kafka %s from Maven Central into %s", self.version, self.lib)
        cmd = [
            mvn, "-q", "-B", "-f", str(self.home / "kafka" / "pom.xml"),
            f"-Dkafka.version={self.version}", "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={self.lib}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not any(self.lib.glob(f"kafka_*-{self.version}.jar")):
            raise StackError(f"could not resolve Kafka {self.version} with Maven:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        marker.write_text(self.version)

    def prepare(self) -> list[str]:
        java = _which("java")
        self._resolve_jars()
        log4j = self.state / "kafka" / "log4j.properties"
        _render(self.home / "kafka" / "log4j.properties.template", log4j, log_file=self.log_file)
        _render(
            self.home / "kafka" / "server.properties.template", self.config,
            host=self.host, port=self.port, controller_port=self.settings.stack.kafka_controller_port,
            data_dir=self.data,
        )
        classpath = f"{self.lib}/*"
        if not (self.data / "meta.properties").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            cluster_id = _kafka_cluster_id()
            fmt = subprocess.run(
                [java, f"-Dlog4j.configuration=file:{log4j}", "-cp", classpath, "kafka.tools.StorageTool",
                 "format", "-t", cluster_id, "-c", str(self.config)],
                capture_output=True, text=True,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka's storage failed:\n{fmt.stdout}{fmt.stderr}")
        return [
            java, f"-Xmx{self.settings.stack.kafka_heap}", f"-Xms{self.settings.stack.kafka_heap}",
            "-XX:+UseG1GC", "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{log4j}",
            "-cp", classpath, "kafka.Kafka", str(self.config),
        ]

    def healthy(self) -> bool:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=3000, client_id="wardwatch-health")
        except (KafkaError, OSError, ValueError):
            return False
        try:
            admin.describe_cluster()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()


def _kafka_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as kafka-storage random-uuid)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class _Influx(_Service):
    name = "influxdb"
    port_setting = "WARDWATCH_INFLUX_URL"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.host, self.port = settings.influx.host_port
        self.config = self.state / "influxdb" / "influxdb.conf"

    def prepare(self) -> list[str]:
        influxd = _which("influxd")
        rpc_port = self.port + 2
        _render(
            self.home / "influxdb" / "influxdb.conf.template", self.config,
            host=self.host, port=self.port, rpc_port=rpc_port, data_dir=self.state / "influxdb",
        )
        return [influxd, "run", "-config", str(self.config)]

    def healthy(self) -> bool:
        import requests

        try:
            return requests.get(f"http://{self.address}/ping", timeout=2).status_code == 204
        except requests.RequestException:
            return False


class _Mosquitto(_Service):
    name = "mosquitto"
    port_setting = "WARDWATCH_MQTT_PORT"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.host, self.port = settings.mqtt.host, settings.mqtt.port
        self.config = self.state / "mosquitto" / "mosquitto.conf"

    def prepare(self) -> list[str]:
        mosquitto = _which("mosquitto")
        _render(self.home / "mosquitto" / "mosquitto.conf.template", self.config, host=self.host, port=self.port)
        return [mosquitto, "-c", str(self.config)]

    def healthy(self) -> bool:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"wardwatch-health-{uuid.uuid4().hex[:8]}")
        try:
            client.connect(self.host, self.port, keepalive=5)
            for _ in range(20):  # wait for the broker's CONNACK
                if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                    return False
                if client.is_connected():
                    return True
            return False
        except OSError:
            return False
        finally:
            client.disconnect()


_FACTORIES: dict[str, Callable[[Settings], _Service]] = {"kafka": _Kafka, "influxdb": _Influx, "mosquitto": _Mosquitto}


def _services(settings: Settings, names: tuple[str, ...] | None) -> list[_Service]:
    chosen = names or SERVICES
    unknown = [n for n in chosen if n not in _FACTORIES]
    if unknown:
        raise StackError(f"unknown service {unknown[0]!r}; the stack has {', '.join(SERVICES)}")
    return [_FACTORIES[n](settings) for n in chosen]


def stack_up(settings: Settings, names: tuple[str, ...] | None = None, report: Callable[[str], None] = print) -> None:
    """Start the stack's services that are not running and wait until each answers."""
    for service in _services(settings, names):
        t0 = time.monotonic()
        outcome = service.up(settings.stack.start_timeout_s)
        report(f"{service.name:<10} {outcome:<18} {service.address}  ({time.monotonic() - t0:.1f} s, log {service.log_file})")


def stack_down(settings: Settings, names: tuple[str, ...] | None = None, report: Callable[[str], None] = print) -> None:
    """Stop the services this stack started (in reverse order)."""
    for service in reversed(_services(settings, names)):
        report(f"{service.name:<10} {service.down()}")


def stack_status(settings: Settings, names: tuple[str, ...] | None = None) -> list[ServiceStatus]:
    """Each service's pid, whether it answers, and its log."""
    return [service.status() for service in _services(settings, names)]
