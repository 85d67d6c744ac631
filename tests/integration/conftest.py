"""Integration tests run against the real local stack started by `wardwatch stack up`.

If a service does not answer, every integration test fails and says which one: nothing skips.
Each test gets its own uuid-named topics, consumer group and InfluxDB database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from wardwatch.agents.influx import InfluxWriter
from wardwatch.config import Settings, load_settings
from wardwatch.stack import stack_status
from wardwatch.streams.topics import ensure_topics, topic_names

from wardwatch.streams.sealing import unseal

from ..conftest import TEST_SECRET

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Settings:
    settings = load_settings()
    down = [s for s in stack_status(settings) if not s.answering]
    if down:
        pytest.fail(
            "the local stack is not running: "
            + ", ".join(f"{s.name} at {s.address} does not answer" for s in down)
            + " — start it with `wardwatch stack up` (the README's test command does)",
            pytrace=False,
        )
    return settings


@dataclass
class Isolated:
    """One test's own topics, consumer group and database, as settings and as environment."""

    settings: Settings
    env: dict[str, str]
    topics: dict[str, str]
    influx: InfluxWriter


@pytest.fixture
def isolated(stack: Settings) -> Iterator[Isolated]:
    tag = uuid.uuid4().hex[:12]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    env.update({
        "WARDWATCH_KAFKA_TOPIC_PREFIX": f"test-{tag}",
        "WARDWATCH_KAFKA_APP_ID": f"test-{tag}",
        "WARDWATCH_KAFKA_PARTITIONS": "4",
        "WARDWATCH_INFLUX_DATABASE": f"test_{tag}",
        "WARDWATCH_INFLUX_FLUSH_INTERVAL_S": "0.2",
        "WARDWATCH_PSEUDONYM_SECRET": TEST_SECRET,
        "WARDWATCH_WARD_NAME": f"ward-{tag}",
        "WARDWATCH_STACK_STATE_DIR": str(stack.stack.state_dir),
    })
    saved = {k: os.environ.get(k) for k in env if k.startswith("WARDWATCH_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("WARDWATCH_")})
    try:
        settings = load_settings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    ensure_topics(settings.kafka)
    writer = InfluxWriter(settings.influx)
    yield Isolated(settings, env, topic_names(settings.kafka.topic_prefix), writer)
    writer.drop_database()
    writer.close()


class WorkerProcess:
    """`wardwatch worker` as a real subprocess, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "wardwatch", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def worker(isolated: Isolated, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(isolated.env, tmp_path / "worker.log")
    yield proc
    proc.stop()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.3, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def consume(isolated: Isolated, keys: Sequence[str], count: int, timeout: float = 60) -> list[ConsumerRecord]:
    """At least ``count`` messages from the test's topics ``keys`` (and any beyond: more would be a bug)."""
    consumer = KafkaConsumer(*[isolated.topics[k] for k in keys], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=1500, group_id=None)
    got: list[ConsumerRecord] = []

    def collect() -> bool:
        got.extend(consumer)
        return len(got) >= count

    try:
        wait_for(collect, timeout=timeout, what=f"{count} messages on {', '.join(keys)}")
        while True:
            before = len(got)
            got.extend(consumer)
            if len(got) == before:
                break
    finally:
        consumer.close()
    return got


def assert_private(isolated: Isolated, sent: Sequence[bytes], identifiers: Sequence[str]) -> None:
    """No patient name or record number in any value, key or header on the test's topics.

    Dead-letter values are sealed: the original message (one of ``sent``), byte for byte, only
    with the adapters' key.
    """
    messages = consume(isolated, list(isolated.topics), 0, timeout=5)
    assert messages, "nothing on the test's topics"
    for message in messages:
        texts = [message.key or b""] + [k.encode() + v for k, v in message.headers]
        if message.topic == isolated.topics["dlq"]:  # sealed: nothing readable, nothing lost
            assert unseal(message.value, TEST_SECRET.encode()) in sent
        texts.append(message.value)
        blob = b" ".join(texts).decode("utf-8", "replace").lower()
        leaked = [word for word in identifiers if word.lower() in blob]
        assert not leaked, f"{leaked} on {message.topic}"
