"""Typed configuration, one class per subsystem, read from ``WARDWATCH_*`` environment variables.

Each subsystem has its own prefix (``WARDWATCH_KAFKA_``, ``WARDWATCH_INFLUX_``, ...). Secrets are
:class:`pydantic.SecretStr` and are never printed or logged. :func:`load_settings` turns a bad value
into a :class:`~wardwatch.errors.ConfigurationError` that names the environment variable, what is
wrong and what is allowed.

>>> import os
>>> os.environ["WARDWATCH_KAFKA_PARTITIONS"] = "12"
>>> load_settings().kafka.partitions
12
>>> del os.environ["WARDWATCH_KAFKA_PARTITIONS"]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wardwatch.errors import ConfigurationError

__all__ = [
    "KafkaSettings",
    "InfluxSettings",
    "MqttSettings",
    "LLMSettings",
    "DetectSettings",
    "WardSettings",
    "ScoreSettings",
    "AlertSettings",
    "PseudonymSettings",
    "StackSettings",
    "NotifySettings",
    "ApiSettings",
    "StaffToken",
    "API_ROLES",
    "ACK_ROLES",
    "Settings",
    "load_settings",
    "env_var",
    "describe_settings",
]

_REPO_ROOT = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", validate_default=True)


def _host_port(value: str, setting: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port (port 1-65535) in {setting}")
    return host, int(port)


class KafkaSettings(BaseSettings):
    """Kafka brokers and topics."""

    model_config = _config("WARDWATCH_KAFKA_")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers.")
    topic_prefix: str = Field("wardwatch", description="Prefix of every topic name (wardwatch.vitals.numerics, ...).")
    partitions: int = Field(8, ge=1, le=4096, description="Partitions of each topic WardWatch creates (patients are spread over them by key).")
    replication_factor: int = Field(1, ge=1, le=16, description="Replication factor of the topics WardWatch creates.")
    app_id: str = Field("wardwatch", description="Faust application id: consumer group and prefix of its internal topics.")
    session_timeout_s: float = Field(10.0, ge=6, le=300, description="A worker silent this long is taken as dead and its patients move to another worker.")
    # security (wardwatch.kafka_security turns these into every client's options)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field("PLAINTEXT", description="PLAINTEXT (local stack), SSL, SASL_SSL (production: TLS + SCRAM) or SASL_PLAINTEXT.")
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field("SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*.")
    sasl_username: str = Field("", description="SASL user name (required with SASL_SSL / SASL_PLAINTEXT).")
    sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (required with SASL_*); or give WARDWATCH_KAFKA_SASL_PASSWORD_FILE.")
    sasl_password_file: str = Field("", description="File holding the SASL password (a mounted secret); used when WARDWATCH_KAFKA_SASL_PASSWORD is empty.")
    ssl_cafile: str = Field("", description="PEM file of the CA(s) that signed the brokers' certificates; empty = the system trust store.")
    ssl_certfile: str = Field("", description="PEM client certificate (mutual TLS only).")
    ssl_keyfile: str = Field("", description="PEM private key of the client certificate (mutual TLS only).")
    ssl_check_hostname: bool = Field(True, description="Check that the broker's certificate names the host connected to (keep on in production).")

    @field_validator("sasl_username")
    @classmethod
    def _check_sasl_user(cls, value: str, info: ValidationInfo) -> str:
        if str(info.data.get("security_protocol", "")).startswith("SASL_") and not value:
            raise ValueError("SASL needs a user name: set it, or set WARDWATCH_KAFKA_SECURITY_PROTOCOL to PLAINTEXT or SSL")
        return value

    @field_validator("sasl_password_file")
    @classmethod
    def _check_sasl_password(cls, value: str, info: ValidationInfo) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no such file {value!r}")
        password = info.data.get("sasl_password")
        if str(info.data.get("security_protocol", "")).startswith("SASL_") and not value and not (password and password.get_secret_value()):
            raise ValueError("SASL needs a password: set WARDWATCH_KAFKA_SASL_PASSWORD or this file")
        return value

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _check_pem(cls, value: str, info: ValidationInfo) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no such file {value!r}")
        if value and not str(info.data.get("security_protocol", "")).endswith("SSL"):
            raise ValueError("a TLS file is set but WARDWATCH_KAFKA_SECURITY_PROTOCOL is not SSL or SASL_SSL")
        if info.field_name == "ssl_keyfile" and value and not info.data.get("ssl_certfile"):
            raise ValueError("a client key needs its certificate in WARDWATCH_KAFKA_SSL_CERTFILE")
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: str) -> str:
        for item in value.split(","):
            _host_port(item.strip(), "bootstrap_servers")
        return value

    @field_validator("topic_prefix", "app_id")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use only letters, digits, '.', '_' and '-' (at most 200)")
        return value

    @property
    def first_server(self) -> tuple[str, int]:
        return _host_port(self.bootstrap_servers.split(",")[0].strip(), "bootstrap_servers")


class InfluxSettings(BaseSettings):
    """InfluxDB, through the v1 HTTP API (/write, /query) that 1.x, 2.x and 3.x all accept."""

    model_config = _config("WARDWATCH_INFLUX_")

    url: str = Field("http://127.0.0.1:8086", description="Base URL of the InfluxDB HTTP API.")
    database: str = Field("wardwatch", description="Database (v1) or bucket mapped to it (2.x/3.x).")
    username: str = Field("", description="User name; empty when authentication is off.")
    password: SecretStr = Field(SecretStr(""), description="Password or token.")
    batch_size: int = Field(5000, ge=1, le=100_000, description="Points per write request, at most.")
    flush_interval_s: float = Field(1.0, gt=0, le=60, description="Longest a point waits in the sink before it is written.")
    timeout_s: float = Field(10.0, gt=0, le=300, description="HTTP timeout of one request.")
    manage_retention: bool = Field(True, description="Create/alter the retention policies below at start (off: leave them to the DBA; needed on 2.x/3.x).")
    retention_clinical: str = Field("365d", description="Duration of the default policy (autogen): vitals, features, alarms, notes (InfluxQL duration or INF).")
    retention_waveforms: str = Field("24h", description="Duration of the policy 'waveforms' (raw waveform strips).")
    retention_operations: str = Field("14d", description="Duration of the policy 'operations' (sink statistics, dead-letter counts).")

    @field_validator("retention_clinical", "retention_waveforms", "retention_operations")
    @classmethod
    def _check_duration(cls, value: str) -> str:
        if value.upper() == "INF":
            return "INF"
        if not re.fullmatch(r"(\d+[wdh])+", value) or int(re.sub(r"\D.*", "", value)) == 0:
            raise ValueError("an InfluxQL duration of at least 1h such as 24h, 30d, 52w, or INF")
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:8086")
        try:
            parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}") from exc
        return value.rstrip("/")

    @field_validator("database")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use only letters, digits, '.', '_' and '-'")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 8086)


class MqttSettings(BaseSettings):
    """The MQTT broker wearables publish to."""

    model_config = _config("WARDWATCH_MQTT_")

    host: str = Field("127.0.0.1", description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    username: str = Field("", description="User name; empty for anonymous.")
    password: SecretStr = Field(SecretStr(""), description="Password.")
    topic_root: str = Field("wardwatch", description="Root of the MQTT topics WardWatch subscribes to.")


class LLMSettings(BaseSettings):
    """The language model that words alarm notes (the summarizer)."""

    model_config = _config("WARDWATCH_LLM_")

    backend: Literal["template", "transformers", "openai"] = Field("template", description="template, transformers (local model) or openai (OpenAI-compatible endpoint).")
    model_path: str = Field("", description="Local model: GGUF file or transformers directory; empty = the packaged Gemma 3 270M.")
    endpoint_url: str = Field("", description="OpenAI-compatible base URL (vLLM, TGI, Ollama) for backend=openai.")
    api_key: SecretStr = Field(SecretStr(""), description="API key for the endpoint.")
    timeout_s: float = Field(20.0, gt=0, le=600, description="Longest a note may take before the template note goes out.")
    model_name: str = Field("", description="Model name sent to the OpenAI-compatible endpoint (empty: the server's default).")
    max_new_tokens: int = Field(48, ge=8, le=512, description="Longest model note, in tokens (one headline and up to three detail lines).")
    concurrency: int = Field(2, ge=1, le=64, description="Notes written at once by one worker's note agent.")
    prompt_version: str = Field("v1", pattern=r"^v[0-9]+$", description="Prompt file models/notes/prompts/note-<version>.txt.")
    verifier_path: str = Field("", description="Verifier terms and tolerances (YAML); empty = models/notes/defaults/verifier.yaml.")
    log_prompts: bool = Field(False, description="Log each prompt and raw model answer (bed and facts only, never identifiers).")


class DetectSettings(BaseSettings):
    """The detect agent: torch detectors over windows of many patients, micro-batched."""

    model_config = _config("WARDWATCH_DETECT_")

    enabled: bool = Field(True, description="Run the detect agent in the worker.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Torch device: auto (CUDA when present, else CPU), cpu or cuda.")
    batch_max: int = Field(64, ge=1, le=4096, description="Flush a micro-batch to the detector at this many windows.")
    batch_wait_ms: float = Field(50.0, ge=0, le=10_000, description="Flush a micro-batch after this many milliseconds even if not full.")
    af_every_s: float = Field(10.0, gt=0, le=300, description="Score AF on each patient's latest ECG window every this many seconds of signal.")
    torch_threads: int = Field(1, ge=1, le=256, description="CPU threads torch uses for each detector's calls (its scoring thread).")


class WardSettings(BaseSettings):
    """The ward, and the simulated ward of the demo."""

    model_config = _config("WARDWATCH_WARD_")

    name: str = Field("ward-a", description="Ward identifier written on every record.")
    patients: int = Field(8, ge=1, le=10_000, description="Number of simulated patients.")
    seed: int = Field(42, ge=0, description="Simulator seed: same seed, same ward.")
    speed: float = Field(1.0, gt=0, le=10_000, description="Simulated seconds per wall-clock second (1 = real time).")
    interval_s: float = Field(1.0, gt=0, le=3600, description="Simulated seconds between two numeric samples of a patient.")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use only letters, digits, '.', '_' and '-'")
        return value


class ScoreSettings(BaseSettings):
    """The score agent: NEWS2 windows and cadence."""

    model_config = _config("WARDWATCH_SCORE_")

    window_s: float = Field(300.0, gt=0, le=86_400, description="Median window of continuously measured vital signs, seconds.")
    nibp_window_s: float = Field(3600.0, gt=0, le=86_400, description="Window of the cuff blood pressure (measured every 15-60 min), seconds.")
    temp_window_s: float = Field(14_400.0, gt=0, le=86_400, description="Window of the body temperature (charted every few hours), seconds.")
    emit_every_s: float = Field(30.0, gt=0, le=3600, description="How often (event time) a NEWS2 evaluation is emitted per patient, seconds.")


class AlertSettings(BaseSettings):
    """The alert agent: which alarm rules, and how often silent patients are re-evaluated."""

    model_config = _config("WARDWATCH_ALERT_")

    rules_path: str = Field("", description="YAML file of the ward's alarm rules and escalation; empty = the shipped ward-default.yaml.")
    tick_s: float = Field(2.0, gt=0, le=60, description="Seconds between two re-evaluations of every patient without new data (no-data alarms, escalation).")


class PseudonymSettings(BaseSettings):
    """The key of the HMAC that turns patient identifiers into pseudonymous references."""

    model_config = _config("WARDWATCH_PSEUDONYM_")

    secret: SecretStr = Field(SecretStr(""), description="HMAC key, at least 16 characters; keep it secret and stable.")

    def require_secret(self) -> bytes:
        """Return the key, or raise :class:`ConfigurationError` saying how to set one."""
        value = self.secret.get_secret_value()
        if len(value) < 16:
            raise ConfigurationError(
                "WARDWATCH_PSEUDONYM_SECRET",
                "not set or shorter than 16 characters" if value else "not set",
                "set it to a long random string and keep it stable, e.g. "
                "export WARDWATCH_PSEUDONYM_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
            )
        return value.encode()


class StackSettings(BaseSettings):
    """The local development stack started by ``wardwatch stack up``.

    Ports come from the other subsystems: Kafka from ``WARDWATCH_KAFKA_BOOTSTRAP_SERVERS``,
    InfluxDB from ``WARDWATCH_INFLUX_URL``, Mosquitto from ``WARDWATCH_MQTT_PORT``.
    """

    model_config = _config("WARDWATCH_STACK_")

    home: Path = Field(_REPO_ROOT / "deploy" / "local", description="Folder with the stack's templates and Kafka pom.")
    state_dir: Path = Field(_REPO_ROOT / ".stack", description="Where jars, data, logs and pid files go (ignored by git).")
    kafka_version: str = Field("3.9.1", description="Apache Kafka version resolved from Maven Central.")
    kafka_controller_port: int = Field(9093, ge=1, le=65535, description="KRaft controller port (loopback).")
    kafka_heap: str = Field("768m", description="Kafka JVM heap (-Xmx).")
    start_timeout_s: float = Field(90.0, gt=0, le=1800, description="Longest to wait for a service to answer.")

    @field_validator("kafka_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not re.fullmatch(r"\d+\.\d+\.\d+", value):
            raise ValueError("must look like 3.9.1")
        return value

    @field_validator("kafka_heap")
    @classmethod
    def _check_heap(cls, value: str) -> str:
        if not re.fullmatch(r"\d+[kmgKMG]", value):
            raise ValueError("must look like 512m or 1g")
        return value


_TIER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def notify_target_kind(target: str) -> Literal["email", "webhook"]:
    """What a recipient entry of ``WARDWATCH_NOTIFY_RECIPIENTS`` is: ``email`` (``nurse@example.org``
    or ``mailto:nurse@example.org``) or ``webhook`` (``webhook`` = the configured URL, or an
    ``http(s)://`` URL). Raises :class:`ValueError` for anything else."""
    if target == "webhook":
        return "webhook"
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        if not parts.hostname:
            raise ValueError(f"{target!r} is not a webhook URL")
        return "webhook"
    if _ADDRESS.match(target.removeprefix("mailto:")):
        return "email"
    raise ValueError(f"{target!r} is neither an e-mail address, 'webhook' nor an http(s):// URL")


class NotifySettings(BaseSettings):
    """Notification channels: who is told about an alarm, and how (signed webhook, e-mail).

    ``recipients`` maps a tier (``bedside_nurse``, ``charge_nurse``, ``on_call_doctor``, ...) to its
    targets, as JSON: ``{"bedside_nurse": ["nurse-a@example.org", "webhook"],
    "on_call_doctor": ["https://pager.example.org/hook"]}``. A target is an e-mail address, the word
    ``webhook`` (``webhook_url``) or an http(s) URL (a webhook signed with the same secret).
    """

    model_config = _config("WARDWATCH_NOTIFY_")

    recipients: Annotated[dict[str, list[str]], NoDecode] = Field(
        {},
        description='JSON: tier -> targets (e-mail address, "webhook", or http(s) URL), e.g. {"bedside_nurse": ["nurse-a@example.org", "webhook"]}.',
    )
    webhook_url: str = Field("", description="URL the signed JSON webhook is POSTed to (target \"webhook\").")
    webhook_secret: SecretStr = Field(SecretStr(""), description="HMAC-SHA256 key of X-WardWatch-Signature, at least 16 characters.")
    webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="HTTP timeout of one webhook attempt.")
    smtp_host: str = Field("127.0.0.1", description="SMTP server (relay) host.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP server port (25, or 587 for submission with STARTTLS).")
    smtp_username: str = Field("", description="SMTP user name; empty: no authentication.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS before authenticating and sending.")
    smtp_ca_file: str = Field("", description="PEM file of the CA that signed the SMTP server's certificate; empty: the system's CAs.")
    smtp_timeout_s: float = Field(10.0, gt=0, le=120, description="SMTP timeout of one attempt.")
    mail_from: str = Field("wardwatch@localhost", description="Sender address of alarm e-mails.")
    ward_page_url: str = Field("http://127.0.0.1:8080", description="Base URL of the ward page; links are {ward_page_url}/patients/{patient_ref}.")
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts per notification and channel, the first included.")
    backoff_s: float = Field(1.0, ge=0, le=300, description="Delay before the first retry; doubles each retry (with jitter).")
    backoff_max_s: float = Field(30.0, ge=0, le=3600, description="Longest delay between two attempts.")
    dedup_size: int = Field(10_000, ge=1, le=10_000_000, description="Delivered notification ids remembered per process (not sent twice).")

    @field_validator("recipients", mode="before")
    @classmethod
    def _parse_recipients(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object mapping a tier to a list of targets")
        parsed: dict[str, list[str]] = {}
        for tier, targets in value.items():
            if not isinstance(tier, str) or not _TIER.match(tier):
                raise ValueError(f"tier {tier!r}: use lower-case letters, digits and '_' (e.g. bedside_nurse)")
            if isinstance(targets, str):
                targets = [t.strip() for t in targets.split(",") if t.strip()]
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise ValueError(f"tier {tier!r}: targets must be a list of strings")
            for target in targets:
                notify_target_kind(target)
            parsed[tier] = list(targets)
        return parsed

    @field_validator("webhook_url", "ward_page_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("mail_from")
    @classmethod
    def _check_from(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError("must be an e-mail address such as wardwatch@hospital.example")
        return value

    def targets(self, tier: str) -> tuple[list[str], list[str]]:
        """E-mail addresses and webhook URLs of ``tier`` (``webhook`` resolved to ``webhook_url``)."""
        emails: list[str] = []
        urls: list[str] = []
        for target in self.recipients.get(tier, []):
            if notify_target_kind(target) == "email":
                emails.append(target.removeprefix("mailto:"))
            else:
                url = self.webhook_url if target == "webhook" else target
                if not url:
                    raise ConfigurationError("WARDWATCH_NOTIFY_WEBHOOK_URL", f"tier {tier!r} names 'webhook' but no URL is set")
                urls.append(url)
        return emails, urls

    def require_webhook_secret(self) -> bytes:
        """Return the webhook HMAC key, or raise :class:`ConfigurationError` saying how to set one."""
        value = self.webhook_secret.get_secret_value()
        if len(value) < 16:
            raise ConfigurationError(
                "WARDWATCH_NOTIFY_WEBHOOK_SECRET",
                "not set or shorter than 16 characters",
                "webhooks are signed; set a long random string shared with the receiver",
            )
        return value.encode()


#: Roles a bearer token of the acknowledgement API may carry.
API_ROLES: tuple[str, ...] = ("nurse", "doctor", "viewer")
#: Roles that may acknowledge an alarm (a ``viewer`` may not).
ACK_ROLES: frozenset[str] = frozenset({"nurse", "doctor"})
_STAFF_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class StaffToken:
    """Who a bearer token stands for: a role and a pseudonymous staff id (never a name)."""

    role: str
    user: str


def _parse_tokens(text: str) -> dict[str, StaffToken]:
    """Parse the token table; error messages name the entry's position, never the token."""
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(doc, dict):
        raise ValueError('must be a JSON object mapping each token to {"role": ..., "user": ...}')
    table: dict[str, StaffToken] = {}
    for i, (token, who) in enumerate(doc.items(), 1):
        if len(token) < 16 or any(c.isspace() for c in token):
            raise ValueError(f"token {i}: a token needs at least 16 characters and no spaces")
        if not isinstance(who, dict) or set(who) != {"role", "user"}:
            raise ValueError(f'token {i}: the value must be {{"role": ..., "user": ...}} and nothing else')
        if who["role"] not in API_ROLES:
            raise ValueError(f"token {i}: role {who['role']!r} is not one of {', '.join(API_ROLES)}")
        if not isinstance(who["user"], str) or not _STAFF_ID.match(who["user"]):
            raise ValueError(f"token {i}: user must be a pseudonymous staff id (letters, digits, '._:-', at most 64)")
        table[token] = StaffToken(who["role"], who["user"])
    return table


class ApiSettings(BaseSettings):
    """The acknowledgement HTTP API (``wardwatch api serve``): where it listens, who may call it.

    ``tokens`` is secret JSON mapping each bearer token to a role and a pseudonymous staff id:
    ``{"<token>": {"role": "nurse", "user": "staff-0042"}}``. Roles: ``nurse`` and ``doctor`` may
    acknowledge, ``viewer`` may not. Tokens are never printed or logged.
    """

    model_config = _config("WARDWATCH_API_")

    host: str = Field("127.0.0.1", description="Address the acknowledgement API listens on.")
    port: int = Field(8081, ge=1, le=65535, description="Port of the acknowledgement API.")
    tokens: SecretStr = Field(
        SecretStr(""),
        description='JSON: bearer token (16+ characters) -> {"role": "nurse"|"doctor"|"viewer", "user": pseudonymous staff id}.',
    )
    max_body_bytes: int = Field(16_384, ge=256, le=1_048_576, description="Largest request body the API reads, bytes.")
    # the ward page (`wardwatch ward serve`, issue 8): same host and tokens
    ward_port: int = Field(8090, ge=1, le=65535, description="Port of the ward page (`wardwatch ward serve`).")
    ward_history_s: float = Field(900.0, ge=10, le=86_400, description="Seconds of recent vitals the ward page keeps for its trend sparklines.")
    session_ttl_s: float = Field(43_200.0, ge=60, le=604_800, description="Lifetime of a ward page login, seconds.")

    @field_validator("tokens")
    @classmethod
    def _check_tokens(cls, value: SecretStr) -> SecretStr:
        _parse_tokens(value.get_secret_value())
        return value

    def staff(self) -> dict[str, StaffToken]:
        """Bearer token → who it stands for."""
        return _parse_tokens(self.tokens.get_secret_value())


_SECTIONS: dict[str, type[BaseSettings]] = {
    "kafka": KafkaSettings,
    "influx": InfluxSettings,
    "mqtt": MqttSettings,
    "llm": LLMSettings,
    "detect": DetectSettings,
    "ward": WardSettings,
    "score": ScoreSettings,
    "alert": AlertSettings,
    "pseudonym": PseudonymSettings,
    "stack": StackSettings,
    "notify": NotifySettings,
    "api": ApiSettings,
}


@dataclass(frozen=True)
class Settings:
    """Every subsystem's settings together."""

    kafka: KafkaSettings
    influx: InfluxSettings
    mqtt: MqttSettings
    llm: LLMSettings
    detect: DetectSettings
    ward: WardSettings
    score: ScoreSettings
    alert: AlertSettings
    pseudonym: PseudonymSettings
    stack: StackSettings
    notify: NotifySettings
    api: ApiSettings


def env_var(section: str, field: str) -> str:
    """Environment variable of a setting: ``env_var("kafka", "partitions")`` → ``WARDWATCH_KAFKA_PARTITIONS``."""
    prefix = _SECTIONS[section].model_config.get("env_prefix", "")
    return f"{prefix}{field}".upper()


def _load(section: str, overrides: dict[str, Any] | None = None) -> BaseSettings:
    cls = _SECTIONS[section]
    try:
        return cls(**(overrides or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        allowed = _allowed(cls, field)
        info = cls.model_fields.get(field)
        secret = info is not None and info.annotation is SecretStr
        got = "a secret value, not shown" if secret else repr(err.get("input"))  # never echo a secret
        raise ConfigurationError(
            env_var(section, field),
            f"{err['msg']} (got {got})",
            allowed,
        ) from (None if secret else exc)


def _allowed(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields.get(field)
    if info is None:
        return ""
    text = info.description or ""
    default = info.default
    if isinstance(default, SecretStr):
        return text
    return f"{text} Default: {default}".strip()


def load_settings(**overrides: dict[str, Any]) -> Settings:
    """Read every subsystem's settings from the environment.

    ``overrides`` maps a section name to field values that win over the environment, e.g.
    ``load_settings(ward={"patients": 3})``. Raises :class:`ConfigurationError` on the first bad value.
    """
    return Settings(**{name: _load(name, overrides.get(name)) for name in _SECTIONS})  # type: ignore[arg-type]


def describe_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """Rows of (environment variable, effective value, description), secrets masked."""
    rows: list[tuple[str, str, str]] = []
    for section in _SECTIONS:
        model = getattr(settings, section)
        for field, info in type(model).model_fields.items():
            value = getattr(model, field)
            if isinstance(value, SecretStr):
                shown = "********" if value.get_secret_value() else "(unset)"
            else:
                shown = str(value)
            rows.append((env_var(section, field), shown, info.description or ""))
    return rows
