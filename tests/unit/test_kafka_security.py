"""Kafka security settings and the client options built from them (no broker needed)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import faust
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wardwatch.config import KafkaSettings, describe_settings, load_settings
from wardwatch.errors import ConfigurationError
from wardwatch.kafka_security import (
    aiokafka_options,
    describe,
    explain_failure,
    faust_options,
    kafka_python_options,
    sasl_password,
    ssl_context,
)


@pytest.fixture
def cafile(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit-test-ca")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    path = tmp_path / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _sasl_ssl(cafile: Path, **changes: object) -> KafkaSettings:
    values: dict[str, object] = {"security_protocol": "SASL_SSL", "sasl_username": "ward-worker",
                                 "sasl_password": "s3cret-pass", "ssl_cafile": str(cafile)}
    values.update(changes)
    return KafkaSettings(**values)  # type: ignore[arg-type]


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    kafka = KafkaSettings()
    assert aiokafka_options(kafka) == {"security_protocol": "PLAINTEXT"}
    assert kafka_python_options(kafka) == {"security_protocol": "PLAINTEXT"}
    assert faust_options(kafka) == {}
    assert ssl_context(kafka) is None


def test_sasl_ssl_options_for_every_client(cafile: Path) -> None:
    kafka = _sasl_ssl(cafile)
    for options in (aiokafka_options(kafka), kafka_python_options(kafka)):
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("ward-worker", "s3cret-pass")
        context = options["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert any(c["subject"] == ((("commonName", "unit-test-ca"),),) for c in context.get_ca_certs())
    credentials = faust_options(kafka)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    assert "s3cret-pass" not in repr(credentials)


def test_tls_without_sasl_uses_ssl_credentials(cafile: Path) -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_cafile=str(cafile), ssl_check_hostname=False)
    assert "sasl_mechanism" not in aiokafka_options(kafka)
    assert ssl_context(kafka).check_hostname is False  # type: ignore[union-attr]
    assert isinstance(faust_options(kafka)["broker_credentials"], faust.SSLCredentials)


def test_password_from_a_mounted_file(cafile: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file\n")
    kafka = _sasl_ssl(cafile, sasl_password="", sasl_password_file=str(secret))
    assert sasl_password(kafka) == "from-the-file"
    assert aiokafka_options(kafka)["sasl_plain_password"] == "from-the-file"
    secret.write_text("")
    with pytest.raises(ConfigurationError, match="WARDWATCH_KAFKA_SASL_PASSWORD_FILE"):
        sasl_password(kafka)


@pytest.mark.parametrize("env,variable", [
    ({"WARDWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "WARDWATCH_KAFKA_SASL_USERNAME"),
    ({"WARDWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "WARDWATCH_KAFKA_SASL_USERNAME": "u"}, "WARDWATCH_KAFKA_SASL_PASSWORD_FILE"),
    ({"WARDWATCH_KAFKA_SECURITY_PROTOCOL": "TLS"}, "WARDWATCH_KAFKA_SECURITY_PROTOCOL"),
    ({"WARDWATCH_KAFKA_SECURITY_PROTOCOL": "SSL", "WARDWATCH_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "WARDWATCH_KAFKA_SSL_CAFILE"),
    ({"WARDWATCH_KAFKA_SSL_CAFILE": "/etc/hostname"}, "WARDWATCH_KAFKA_SSL_CAFILE"),  # TLS file but PLAINTEXT
    ({"WARDWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "WARDWATCH_KAFKA_SASL_USERNAME": "u",
      "WARDWATCH_KAFKA_SASL_PASSWORD": "p", "WARDWATCH_KAFKA_SASL_MECHANISM": "GSSAPI"}, "WARDWATCH_KAFKA_SASL_MECHANISM"),
])
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.setting == variable


def test_a_file_that_is_not_a_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="WARDWATCH_KAFKA_SSL_CAFILE"):
        ssl_context(KafkaSettings(security_protocol="SSL", ssl_cafile=str(bogus)))


def test_the_password_is_never_shown(cafile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kafka = _sasl_ssl(cafile)
    assert "s3cret-pass" not in describe(kafka) and "ward-worker" in describe(kafka)
    monkeypatch.setenv("WARDWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("WARDWATCH_KAFKA_SASL_USERNAME", "ward-worker")
    monkeypatch.setenv("WARDWATCH_KAFKA_SASL_PASSWORD", "s3cret-pass")
    rows = {name: shown for name, shown, _ in describe_settings(load_settings())}
    assert rows["WARDWATCH_KAFKA_SASL_PASSWORD"] == "********"
    monkeypatch.setenv("WARDWATCH_KAFKA_SASL_MECHANISM", "bogus")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "s3cret-pass" not in str(caught.value)


def test_failures_are_explained_without_a_probe(cafile: Path) -> None:
    kafka = _sasl_ssl(cafile)
    sasl = explain_failure(kafka, RuntimeError("SaslAuthenticationFailed: invalid credentials"), probe_timeout_s=0)
    assert "refused the SASL login of 'ward-worker'" in sasl and "s3cret-pass" not in sasl
    tls = explain_failure(kafka, ssl.SSLCertVerificationError("certificate verify failed"), probe_timeout_s=0)
    assert "WARDWATCH_KAFKA_SSL_CAFILE" in tls
    other = explain_failure(kafka, RuntimeError("Unable to bootstrap"), probe_timeout_s=0)
    assert "WARDWATCH_KAFKA_SECURITY_PROTOCOL" in other


def test_a_broker_that_is_down_is_reported_as_such() -> None:
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
    message = explain_failure(kafka, RuntimeError("Unable to bootstrap"), probe_timeout_s=2)
    assert "does not answer" in message and "wardwatch stack up" in message
