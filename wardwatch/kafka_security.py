"""One place that turns :class:`~wardwatch.config.KafkaSettings` into Kafka client options.

Every Kafka client WardWatch creates takes its connection security from here: the aiokafka
producer (:class:`~wardwatch.streams.publish.RecordProducer`), kafka-python's admin and consumers
(:func:`~wardwatch.streams.topics.ensure_topics`, ``wardwatch dlq show``), and the Faust app
(``broker_credentials``). The local stack speaks ``PLAINTEXT`` on loopback; production brokers
speak ``SASL_SSL`` (TLS, then a SCRAM-SHA-512 login)::

    WARDWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL
    WARDWATCH_KAFKA_SASL_USERNAME=wardwatch-worker
    WARDWATCH_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka-password
    WARDWATCH_KAFKA_SSL_CAFILE=/run/secrets/kafka-ca.crt

The password is read when a client is built and is never logged; :func:`describe` gives a
loggable summary.

>>> from wardwatch.config import KafkaSettings
>>> kafka_python_options(KafkaSettings())
{'security_protocol': 'PLAINTEXT'}
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

from wardwatch.config import KafkaSettings
from wardwatch.errors import ConfigurationError

__all__ = [
    "ssl_context",
    "sasl_password",
    "aiokafka_options",
    "kafka_python_options",
    "faust_options",
    "describe",
    "explain_failure",
]

logger = logging.getLogger(__name__)


def _uses_tls(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol in ("SSL", "SASL_SSL")


def _uses_sasl(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol.startswith("SASL_")


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of the brokers' connections, or ``None`` without TLS.

    It trusts ``ssl_cafile`` (or the system store when empty), checks the broker's host name
    unless ``ssl_check_hostname`` is off, refuses anything older than TLS 1.2, and presents
    ``ssl_certfile``/``ssl_keyfile`` when they are set (mutual TLS).

    Raises
    ------
    ConfigurationError
        A PEM file cannot be read or does not hold what it should; names the variable.
    """
    if not _uses_tls(kafka):
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=kafka.ssl_cafile or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError("WARDWATCH_KAFKA_SSL_CAFILE", f"cannot load the CA file ({exc})",
                                 "give a PEM file with the CA certificate(s) that signed the brokers' certificates") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certfile:
        try:
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError("WARDWATCH_KAFKA_SSL_CERTFILE", f"cannot load the client certificate/key ({exc})",
                                     "give the PEM certificate and its unencrypted PEM key (WARDWATCH_KAFKA_SSL_KEYFILE)") from exc
    return context


def sasl_password(kafka: KafkaSettings) -> str:
    """The SASL password: ``WARDWATCH_KAFKA_SASL_PASSWORD``, else the first line of the password file."""
    value = kafka.sasl_password.get_secret_value()
    if value or not kafka.sasl_password_file:
        return value
    try:
        lines = Path(kafka.sasl_password_file).read_text().splitlines()
    except OSError as exc:
        raise ConfigurationError("WARDWATCH_KAFKA_SASL_PASSWORD_FILE", f"cannot read it ({exc.strerror})",
                                 "mount the secret there or set WARDWATCH_KAFKA_SASL_PASSWORD") from None
    if not lines or not lines[0]:
        raise ConfigurationError("WARDWATCH_KAFKA_SASL_PASSWORD_FILE", "the file is empty", "write the password on its first line")
    return lines[0]


def _common(kafka: KafkaSettings) -> dict[str, Any]:
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    context = ssl_context(kafka)
    if context is not None:
        options["ssl_context"] = context
    if _uses_sasl(kafka):
        options.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=sasl_password(kafka),
        )
    return options


def aiokafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``/``AIOKafkaAdminClient``."""
    return _common(kafka)


def kafka_python_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's ``KafkaProducer``/``KafkaConsumer``/``KafkaAdminClient``."""
    return _common(kafka)


def faust_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App``: ``broker_credentials`` when the brokers need TLS or SASL."""
    import faust

    context = ssl_context(kafka)
    if _uses_sasl(kafka):
        credentials: Any = faust.SASLCredentials(
            username=kafka.sasl_username, password=sasl_password(kafka), ssl_context=context, mechanism=kafka.sasl_mechanism
        )
        return {"broker_credentials": credentials}
    if context is not None:
        return {"broker_credentials": faust.SSLCredentials(context)}
    return {}


def describe(kafka: KafkaSettings) -> str:
    """A log-safe summary: protocol, mechanism, user and CA file; never the password."""
    parts = [kafka.security_protocol]
    if _uses_sasl(kafka):
        parts.append(f"{kafka.sasl_mechanism} as {kafka.sasl_username!r}")
    if _uses_tls(kafka):
        parts.append(f"CA {kafka.ssl_cafile or 'system store'}" + ("" if kafka.ssl_check_hostname else ", host name not checked"))
    return ", ".join(parts)


def _probe(kafka: KafkaSettings, timeout_s: float) -> BaseException | None:
    """Open one connection to the first broker the way the clients do; return what went wrong, if anything.

    The clients log the real cause of a failed bootstrap and raise only "unable to bootstrap";
    this repeats the first step in a thread of its own (usable from sync and async callers).
    """
    import asyncio
    import socket
    from concurrent.futures import ThreadPoolExecutor

    from aiokafka.conn import create_conn

    host, port = kafka.first_server
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return exc

    async def attempt() -> None:
        conn = await asyncio.wait_for(create_conn(host, port, client_id="wardwatch-probe",
                                                  request_timeout_ms=int(timeout_s * 1000), **aiokafka_options(kafka)), timeout_s)
        conn.close()

    with ThreadPoolExecutor(1, thread_name_prefix="kafka-probe") as pool:
        try:
            pool.submit(asyncio.run, attempt()).result()
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            return exc
    return None


def explain_failure(kafka: KafkaSettings, exc: BaseException, probe_timeout_s: float = 10.0) -> str:
    """A sentence saying why a client could not reach Kafka and what to check, for error messages.

    The clients report a failed TLS handshake or SASL login in different ways, often only as
    "unable to bootstrap"; unless ``probe_timeout_s`` is 0, one probe connection finds the
    real cause. The message names the settings involved, never the password.
    """
    cause = _probe(kafka, probe_timeout_s) if probe_timeout_s > 0 else None
    text = f"{type(cause or exc).__name__}: {cause or exc}"
    low = text.lower()
    where = f"Kafka at {kafka.bootstrap_servers}"
    if isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError):
        hint = "start it with `wardwatch stack up`" if kafka.security_protocol == "PLAINTEXT" else "check that it is up and reachable"
        return f"{where} does not answer ({text}); {hint}"
    if "authentication" in low or "sasl" in low:
        return (f"{where} refused the SASL login of {kafka.sasl_username!r} ({text}); "
                "check WARDWATCH_KAFKA_SASL_USERNAME, WARDWATCH_KAFKA_SASL_PASSWORD(_FILE) and WARDWATCH_KAFKA_SASL_MECHANISM")
    if isinstance(cause or exc, ssl.SSLError) or "certificate" in low or "ssl" in low:
        return (f"TLS with {where} failed ({text}); check WARDWATCH_KAFKA_SSL_CAFILE "
                "and that the broker's certificate names the host in WARDWATCH_KAFKA_BOOTSTRAP_SERVERS")
    if cause is not None and not _uses_tls(kafka):
        return (f"{where} accepted the connection but closed it during the {kafka.security_protocol} handshake ({text}); "
                "its listener probably expects TLS: set WARDWATCH_KAFKA_SECURITY_PROTOCOL to SSL or SASL_SSL as the broker does")
    return (f"{where} could not be used over {kafka.security_protocol} ({text}); "
            "check WARDWATCH_KAFKA_SECURITY_PROTOCOL against the broker's listener")
