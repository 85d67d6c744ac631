"""Kafka over TLS with SASL/SCRAM-SHA-512, against a second real broker configured that way.

The module starts its own Apache Kafka (the jars ``wardwatch stack up`` resolved under the stack's
state folder, KRaft, 384 MiB heap) with a single ``SASL_SSL`` listener on a free loopback port:
certificates are made here with ``cryptography``, the SCRAM user is written into the metadata by
``kafka-storage format --add-scram``. Records then go through the project's own clients
(``ensure_topics``, ``RecordProducer``, ``wardwatch dlq show``, the Faust app's credentials), and a
wrong password, a client without TLS and an untrusted CA each fail with an error that says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kafka import KafkaConsumer

from wardwatch.config import KafkaSettings, load_settings
from wardwatch.errors import ServiceUnavailableError
from wardwatch.kafka_security import kafka_python_options
from wardwatch.streams.codec import decode
from wardwatch.streams.publish import RecordProducer
from wardwatch.streams.records import NumericObservation
from wardwatch.streams.topics import ensure_topics, topic_name

from .conftest import free_port, wait_for

USER = "wardwatch-test"
_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={truststore}
ssl.client.auth=none
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common)).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server_cert(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder().subject_name(_name("kafka-test-broker")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


@dataclass
class SecureBroker:
    """The second broker: where it listens, the CA that signed it, and the SCRAM password."""

    bootstrap: str
    cafile: Path
    rogue_cafile: Path
    password: str
    log: Path

    def settings(self, prefix: str, **changes: object) -> KafkaSettings:
        values: dict[str, object] = {
            "bootstrap_servers": self.bootstrap, "topic_prefix": prefix, "app_id": prefix, "partitions": 2,
            "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER,
            "sasl_password": self.password, "ssl_cafile": str(self.cafile),
        }
        values.update(changes)
        return KafkaSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    settings = load_settings()
    lib = settings.stack.state_dir / "kafka" / settings.stack.kafka_version / "lib"
    java = shutil.which("java")
    if java is None or not any(lib.glob("kafka_*.jar")):
        pytest.fail(f"Kafka's jars are not under {lib} (or java is missing): run `wardwatch stack up` first", pytrace=False)
    home = tmp_path_factory.mktemp("sasl-broker")
    ca_key, ca = _ca("wardwatch-test-ca")
    key, cert = _server_cert(ca_key, ca)
    (home / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (home / "rogue-ca.pem").write_bytes(_ca("someone-else")[1].public_bytes(serialization.Encoding.PEM))
    (home / "broker.pem").write_bytes(_pem_key(key) + cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    password = secrets.token_urlsafe(18)
    port, controller_port = free_port(), free_port()
    config = home / "server.properties"
    config.write_text(_PROPERTIES.format(
        port=port, controller_port=controller_port, user=USER, password=password,
        keystore=home / "broker.pem", truststore=home / "ca.pem", data=home / "data",
    ))
    log = home / "kafka.log"
    log4j = home / "log4j.properties"
    log4j.write_text(f"log4j.rootLogger=INFO, file\nlog4j.appender.file=org.apache.log4j.FileAppender\nlog4j.appender.file.File={log}\n"
                     "log4j.appender.file.layout=org.apache.log4j.PatternLayout\nlog4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n")
    base = [java, "-Xmx384m", "-Xms128m", f"-Dlog4j.configuration=file:{log4j}", "-cp", f"{lib}/*"]
    fmt = subprocess.run(
        [*base, "kafka.tools.StorageTool", "format", "-t", "wardwatchsasltestAAAAA", "-c", str(config),
         "--add-scram", f"SCRAM-SHA-512=[name={USER},password={password}]"],
        capture_output=True, text=True, timeout=120,
    )
    assert fmt.returncode == 0, f"kafka-storage format failed:\n{fmt.stdout}{fmt.stderr}"
    with open(home / "stdout.log", "wb") as out:
        proc = subprocess.Popen([*base, "-XX:+UseSerialGC", "kafka.Kafka", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    broker = SecureBroker(f"127.0.0.1:{port}", home / "ca.pem", home / "rogue-ca.pem", password, log)
    try:
        def ready() -> bool:
            assert proc.poll() is None, f"the SASL_SSL broker exited:\n{(home / 'stdout.log').read_text()[-3000:]}"
            return "Kafka Server started" in (log.read_text(errors="replace") if log.exists() else "")
        wait_for(ready, timeout=120, what="the SASL_SSL Kafka broker to start")
        yield broker
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _observation(i: int) -> NumericObservation:
    return NumericObservation(patient_ref="p-" + f"{i:020x}", ward="ward-sec", bed=f"{i:02d}", device_id="dev-1",
                              signal="MDC_PULS_OXIM_SAT_O2", unit="%", timestamp_ns=time.time_ns(), value=95.0 + i)


async def _send(kafka: KafkaSettings, records: list[NumericObservation]) -> int:
    async with RecordProducer(kafka) as producer:
        return await producer.send_records(records)


def _read(kafka: KafkaSettings, topic: str, count: int) -> list[bytes]:
    """The first ``count`` values on ``topic``, read by kafka-python with the project's security options."""
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka.bootstrap_servers, group_id=None, auto_offset_reset="earliest",
                             consumer_timeout_ms=20_000, **kafka_python_options(kafka))
    values: list[bytes] = []
    try:
        for message in consumer:
            values.append(message.value)
            if len(values) == count:
                break
    finally:
        consumer.close()
    return values


def test_records_round_trip_over_sasl_ssl(secure_broker: SecureBroker) -> None:
    kafka = secure_broker.settings("sec-ok")
    created = ensure_topics(kafka, timeout_s=30)  # kafka-python admin, through kafka_python_options
    assert topic_name("sec-ok", "numerics") in created
    sent = [_observation(i) for i in range(5)]
    assert asyncio.run(_send(kafka, sent)) == 5  # aiokafka producer, idempotent, acks=all
    got = [decode(v, NumericObservation) for v in _read(kafka, topic_name("sec-ok", "numerics"), len(sent))]
    assert sorted(r.value for r in got) == sorted(r.value for r in sent)


def test_dlq_show_reads_over_sasl_ssl(secure_broker: SecureBroker) -> None:
    kafka = secure_broker.settings("sec-dlq")
    ensure_topics(kafka, timeout_s=30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    env.update({
        "WARDWATCH_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "WARDWATCH_KAFKA_TOPIC_PREFIX": "sec-dlq",
        "WARDWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "WARDWATCH_KAFKA_SASL_USERNAME": USER,
        "WARDWATCH_KAFKA_SSL_CAFILE": str(secure_broker.cafile),
    })
    password_file = secure_broker.cafile.parent / "password"
    password_file.write_text(secure_broker.password + "\n")
    env["WARDWATCH_KAFKA_SASL_PASSWORD_FILE"] = str(password_file)  # the secret from a mounted file

    done = subprocess.run([sys.executable, "-m", "wardwatch", "dlq", "show"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no dead letters on sec-dlq.dlq" in done.stdout
    assert secure_broker.password not in done.stdout + done.stderr


def test_wrong_password_is_refused_with_a_clear_error(secure_broker: SecureBroker) -> None:
    kafka = secure_broker.settings("sec-bad", sasl_password="not-the-password")
    with pytest.raises(ServiceUnavailableError) as caught:
        asyncio.run(_send(kafka, [_observation(1)]))
    message = str(caught.value)
    print(message)
    assert "SASL login" in message and USER in message and "WARDWATCH_KAFKA_SASL_PASSWORD" in message
    assert "not-the-password" not in message
    with pytest.raises(ServiceUnavailableError, match="SASL login"):
        ensure_topics(kafka, timeout_s=5)


def test_client_without_tls_fails_clearly(secure_broker: SecureBroker) -> None:
    kafka = secure_broker.settings("sec-plain", security_protocol="SASL_PLAINTEXT", ssl_cafile="")
    with pytest.raises(ServiceUnavailableError, match="WARDWATCH_KAFKA_SECURITY_PROTOCOL") as caught:
        asyncio.run(_send(kafka, [_observation(2)]))
    print(caught.value)
    assert "expects TLS" in str(caught.value)


def test_untrusted_broker_certificate_fails_clearly(secure_broker: SecureBroker) -> None:
    kafka = secure_broker.settings("sec-rogue", ssl_cafile=str(secure_broker.rogue_cafile))
    with pytest.raises(ServiceUnavailableError, match="WARDWATCH_KAFKA_SSL_CAFILE") as caught:
        asyncio.run(_send(kafka, [_observation(3)]))
    print(caught.value)
    assert "certificate verify failed" in str(caught.value)


def test_faust_app_produces_over_sasl_ssl(secure_broker: SecureBroker, tmp_path: Path) -> None:
    from wardwatch.agents.app import create_app

    kafka = secure_broker.settings("sec-faust")
    ensure_topics(kafka, timeout_s=30)
    fields = {name: getattr(kafka, name) for name in KafkaSettings.model_fields}
    fields["sasl_password"] = secure_broker.password
    app = create_app(load_settings(kafka=fields, stack={"state_dir": tmp_path}))
    credentials = app.conf.broker_credentials
    assert credentials.mechanism.value == "SCRAM-SHA-512" and credentials.protocol.value == "SASL_SSL"
    topic = topic_name("sec-faust", "numerics")

    async def send() -> None:  # Faust's own aiokafka producer, configured from broker_credentials
        producer = app.producer
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"p-faust", b"through-faust", None, None, None)
        finally:
            await producer.stop()

    asyncio.run(send())
    assert _read(kafka, topic, 1) == [b"through-faust"]
