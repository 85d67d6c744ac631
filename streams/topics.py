"""Kafka topics, declared once.

Every topic is keyed by the patient's pseudonymous reference, so all of one patient's records land
in one partition and one worker owns that patient's state. Names are ``{prefix}.{suffix}``, e.g.
``wardwatch.vitals.numerics``; the prefix is ``WARDWATCH_KAFKA_TOPIC_PREFIX``.

>>> topic_name("wardwatch", "numerics")
'wardwatch.vitals.numerics'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wardwatch.config import KafkaSettings
from wardwatch.errors import ServiceUnavailableError
from wardwatch.kafka_security import explain_failure, kafka_python_options

__all__ = ["TopicSpec", "TOPICS", "topic_name", "topic_names", "ensure_topics"]

logger = logging.getLogger(__name__)

_DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name after the prefix, what it carries, and how long Kafka keeps it."""

    suffix: str
    carries: str
    retention_ms: int


TOPICS: dict[str, TopicSpec] = {
    "numerics": TopicSpec("vitals.numerics", "NumericObservation", 7 * _DAY_MS),
    "waveforms": TopicSpec("vitals.waveforms", "WaveformChunk", 1 * _DAY_MS),
    "events": TopicSpec("vitals.events", "ChartedEvent", 30 * _DAY_MS),
    "features": TopicSpec("features", "derived numerics, scores, signal quality", 7 * _DAY_MS),
    "alerts": TopicSpec("alerts", "Alert", 30 * _DAY_MS),
    "notes": TopicSpec("alert-notes", "AlertNote", 30 * _DAY_MS),
    "acks": TopicSpec("alert-acks", "AlarmAck: acknowledgements from the ward page or the HTTP API", 30 * _DAY_MS),
    "alarm_log": TopicSpec("alarm-log", "AlarmLogEntry: alarm state changes and notifications (IEC 60601-1-8 alarm log)", 365 * _DAY_MS),
    "notifications": TopicSpec("notifications", "NotificationRequest: who to tell about which alert (alert agent to notify agent)", 7 * _DAY_MS),
    "alarm_ticks": TopicSpec("alarm-ticks", "AlarmTick: re-evaluate a silent patient (alert agent's own clock)", 1 * _DAY_MS),
    "dlq": TopicSpec("dlq", "original bytes of rejected records; reason in headers", 30 * _DAY_MS),
}


def topic_name(prefix: str, key: str) -> str:
    """Full name of topic ``key`` (a key of :data:`TOPICS`) under ``prefix``."""
    return f"{prefix}.{TOPICS[key].suffix}"


def topic_names(prefix: str) -> dict[str, str]:
    """Every topic's full name under ``prefix``, by key."""
    return {key: topic_name(prefix, key) for key in TOPICS}


def ensure_topics(settings: KafkaSettings, timeout_s: float = 30.0) -> list[str]:
    """Create WardWatch's topics that do not exist yet; return the names created.

    Idempotent: existing topics are left as they are (their partition count is not changed).
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=int(timeout_s * 1000),
            **kafka_python_options(settings),
        )
    except KafkaError as exc:
        raise ServiceUnavailableError(explain_failure(settings, exc)) from exc
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=topic_name(settings.topic_prefix, key),
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs={"retention.ms": str(spec.retention_ms)},
            )
            for key, spec in TOPICS.items()
            if topic_name(settings.topic_prefix, key) not in existing
        ]
        created: list[str] = []
        for topic in wanted:
            try:
                admin.create_topics([topic], timeout_ms=int(timeout_s * 1000))
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            logger.info("created topics %s with %d partitions", ", ".join(created), settings.partitions)
        return created
    finally:
        admin.close()
