"""The Faust application and its agents.

Agents are thin: they move records between topics and call pure code.

=================== ============================================== ==================================
agent               reads                                          writes
=================== ============================================== ==================================
``influx-numerics`` ``vitals.numerics``                            InfluxDB ``vitals``; bad → ``dlq``
``score``           ``vitals.numerics`` + ``vitals.events``        ``features`` (NEWS2); bad events → ``dlq``
``influx-features`` ``features``                                   InfluxDB ``features``
``influx-alerts``   ``alerts``                                     InfluxDB ``alert_state``
``influx-dead-...`` ``dlq``                                        InfluxDB ``operations.dead_letters``
=================== ============================================== ==================================

the signal agent (:mod:`wardwatch.agents.signal`): waveforms → ``ecg``/``ppg``/``resp``/``motion``
features; the detect agents (:mod:`wardwatch.agents.detect`): ``detect`` (NEWS2/trend windows of many
patients → the deterioration detector, micro-batched) and ``detect-af`` (30-s ECG windows → the AF
classifier); the verify agent (:mod:`wardwatch.agents.verify`): arrhythmia calls checked by the
alarm verifier; the alarm path (:mod:`wardwatch.agents.alerting`): ``alert``, ``notify``,
``alarm-log``; the note agent (:mod:`wardwatch.agents.notes`): alerts → verified notes on
``alert-notes`` and InfluxDB ``alert_notes``.

The score agent keeps each patient's state (:class:`~wardwatch.models.scoring.PatientScorer`) in
the Faust table ``patient-scoring``, backed by a changelog topic: a worker that dies is replaced
without losing it, and records processed again after a restart change nothing.
"""

from __future__ import annotations

import logging

import faust
import msgspec
from faust.types import EventT

from wardwatch.agents.alerting import register_alerting
from wardwatch.agents.detect import register_detect
from wardwatch.agents.influx import InfluxWriter, features_to_point, register_influx_sinks, to_point
from wardwatch.agents.notes import register_notes
from wardwatch.agents.signal import register_signal
from wardwatch.agents.verify import register_verify
from wardwatch.agents.sinks import SINK_STAGE, dead_letter_event, guarded, store_batch
from wardwatch.config import Settings
from wardwatch.errors import SchemaValidationError
from wardwatch.kafka_security import faust_options
from wardwatch.models.scoring import PatientScorer, ScoringConfig
from wardwatch.streams.codec import CONTENT_TYPE, decode, encode
from wardwatch.streams.records import ChartedEvent, Features, NumericObservation
from wardwatch.streams.topics import topic_names

__all__ = ["create_app", "SINK_STAGE", "SCORE_STAGE", "scoring_config"]

logger = logging.getLogger(__name__)

#: The stage name written in the dead-letter headers of charted events the score agent rejects.
SCORE_STAGE = "score"
_HEADERS = [("content-type", CONTENT_TYPE.encode())]


def scoring_config(settings: Settings) -> ScoringConfig:
    s = settings.score
    return ScoringConfig(
        window_s=s.window_s,
        window_s_by_signal={"MDC_PRESS_BLD_NONINV_SYS": s.nibp_window_s, "MDC_TEMP_BODY": s.temp_window_s},
        emit_every_s=s.emit_every_s,
    )


def create_app(settings: Settings) -> faust.App:
    """Build the Faust app with its topics, tables and agents from ``settings``."""
    kafka = settings.kafka
    (settings.stack.state_dir / "faust").mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = faust.App(
        kafka.app_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        store="memory://",
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # a dead worker's patients move to a live one after this, not after Kafka's 45-60 s default
        broker_session_timeout=kafka.session_timeout_s,
        broker_heartbeat_interval=max(1.0, kafka.session_timeout_s / 4),
        web_enabled=False,
        # Faust's own folder (tables are in memory; it still keeps a lock file there): under the
        # stack's state folder, not the current directory
        datadir=str(settings.stack.state_dir / "faust" / "{conf.name}-data"),
        **faust_options(kafka),  # TLS / SASL-SCRAM credentials (wardwatch.kafka_security)
    )
    names = topic_names(kafka.topic_prefix)
    raw = {"key_serializer": "raw", "value_serializer": "raw", "partitions": kafka.partitions}
    numerics = app.topic(names["numerics"], **raw)
    scoring_input = app.topic(names["numerics"], names["events"], **raw)
    features = app.topic(names["features"], **raw)
    dlq = app.topic(names["dlq"], **raw)
    writer = InfluxWriter(settings.influx)
    cfg = scoring_config(settings)
    # bytes keys and values: Faust stores them raw; the value is the scorer's state as MessagePack
    table = app.Table("patient-scoring", default=None, key_type=bytes, value_type=bytes, partitions=kafka.partitions)
    batch, within = settings.influx.batch_size, settings.influx.flush_interval_s

    @app.agent(numerics, name="influx-numerics")
    async def influx_numerics(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch, within=within):
            await store_batch(writer, dlq, events, NumericObservation, to_point)

    @app.agent(features, name="influx-features")
    async def influx_features(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch, within=within):
            await store_batch(writer, dlq, events, Features, features_to_point)

    async def score_one(event: EventT) -> None:
        message = event.message
        try:
            record = decode(message.value, NumericObservation | ChartedEvent)
        except SchemaValidationError as exc:
            if message.topic == names["events"]:  # invalid numerics are dead-lettered by influx-numerics
                await dead_letter_event(dlq, event, exc.field, exc.reason, SCORE_STAGE)
            return
        key = record.patient_ref.encode()
        state = table.get(key)
        scorer = (
            PatientScorer.from_state(record.patient_ref, msgspec.msgpack.decode(state), cfg)
            if state is not None
            else PatientScorer(record.patient_ref, record.ward, record.bed, cfg)
        )
        if not scorer.accepts(record):
            return
        out = scorer.observe(record)
        table[key] = msgspec.msgpack.encode(scorer.to_state())
        for feature in out:
            await features.send(key=key, value=encode(feature), headers=_HEADERS)

    @app.agent(scoring_input, name="score")
    async def score(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await guarded(dlq, event, SCORE_STAGE, score_one)

    register_signal(app, settings, names, dlq)
    register_detect(app, settings, names, dlq)
    register_verify(app, settings, names, dlq)
    register_alerting(app, settings, names, dlq)
    register_notes(app, settings, names, dlq)
    register_influx_sinks(app, settings, names, dlq)
    return app
