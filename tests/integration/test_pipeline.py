"""A numeric observation through real Kafka, a real Faust worker and real InfluxDB; bad input to the DLQ."""

from __future__ import annotations

import msgspec
from kafka import KafkaConsumer, KafkaProducer

from wardwatch.agents.app import SINK_STAGE
from wardwatch.streams.codec import encode
from wardwatch.streams.deadletter import parse_dead_letter_headers
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import NumericObservation

from ..conftest import TEST_SECRET
from .conftest import Isolated, WorkerProcess, wait_for

T0 = 1_790_000_000_123_456_789


def _producer(isolated: Isolated) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all")


def _rows(isolated: Isolated, where: str = "") -> list[dict]:
    try:
        return isolated.influx.query(f'SELECT * FROM "vitals" {where} GROUP BY *')
    except Exception:  # database not created yet
        return []


def _obs(ref: str, value: float, ts: int, signal: str = "MDC_PULS_OXIM_SAT_O2", unit: str = "%") -> NumericObservation:
    return NumericObservation(patient_ref=ref, ward=isolated_ward, bed="07", device_id="mon-07", signal=signal,
                              unit=unit, timestamp_ns=ts, value=value)


isolated_ward = "ward-test"


def test_numeric_reaches_influx_exactly(isolated: Isolated, worker: WorkerProcess) -> None:
    ref = pseudonymize("MRN-4711", TEST_SECRET.encode())
    obs = _obs(ref, 93.0, T0)
    producer = _producer(isolated)
    producer.send(isolated.topics["numerics"], key=ref.encode(), value=encode(obs)).get(timeout=30)
    producer.close()

    rows = wait_for(lambda: _rows(isolated), timeout=90, what="the observation in InfluxDB")
    assert len(rows) == 1
    row = rows[0]
    assert row["time"] == T0  # nanosecond timestamp kept exactly
    assert row["value"] == 93.0
    assert (row["ward"], row["bed"], row["patient"], row["signal"]) == (isolated_ward, "07", ref, "MDC_PULS_OXIM_SAT_O2")
    assert row["device"] == "mon-07"
    assert "MRN" not in str(row)
    assert worker.alive()


def test_invalid_records_go_to_dead_letter_and_worker_survives(isolated: Isolated, worker: WorkerProcess) -> None:
    ref = pseudonymize("MRN-4712", TEST_SECRET.encode())
    bad_type = msgspec.msgpack.encode({**msgspec.to_builtins(_obs(ref, 97.0, T0)), "value": "ninety-seven"})
    implausible = msgspec.msgpack.encode({**msgspec.to_builtins(_obs(ref, 97.0, T0)), "value": 140.0})
    garbage = b"\xc1\x00not msgpack"
    producer = _producer(isolated)
    for value in (bad_type, implausible, garbage):
        producer.send(isolated.topics["numerics"], key=ref.encode(), value=value).get(timeout=30)
    good = _obs(ref, 96.0, T0 + 1_000_000_000)
    producer.send(isolated.topics["numerics"], key=ref.encode(), value=encode(good)).get(timeout=30)
    producer.close()

    consumer = KafkaConsumer(isolated.topics["dlq"], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000, group_id=None)
    letters: list = []

    def collect() -> bool:
        letters.extend(consumer)
        return len(letters) >= 3

    wait_for(collect, timeout=90, what="three dead letters")
    consumer.close()
    by_value = {m.value: m for m in letters}
    assert set(by_value) == {bad_type, implausible, garbage}  # original bytes, byte for byte
    for value, field, words in (
        (bad_type, "$.value", "Expected `float`, got `str`"),
        (implausible, "$.value", "outside the plausible range 0-100"),
        (garbage, "$", "not a valid MessagePack message"),
    ):
        message = by_value[value]
        letter = parse_dead_letter_headers(message.headers)
        assert message.key == ref.encode()
        assert letter.field == field and words in letter.reason, letter
        assert letter.stage == SINK_STAGE and letter.source_topic == isolated.topics["numerics"]
        assert letter.source_offset is not None and letter.failed_at_ns > 0

    rows = wait_for(lambda: _rows(isolated), timeout=60, what="the valid observation after the bad ones")
    assert [(r["time"], r["value"]) for r in rows] == [(T0 + 1_000_000_000, 96.0)]
    assert worker.alive(), worker.output()[-3000:]


def test_dlq_show_explains_each_dead_letter_and_unseals_on_request(isolated: Isolated) -> None:
    """An adapter's sealed dead letter and the sink's clear one, read back with `wardwatch dlq show`."""
    import asyncio
    import subprocess
    import sys

    from wardwatch.streams.adapters.base import AdapterContext
    from wardwatch.streams.adapters.hl7_mllp import Hl7OruAdapter
    from wardwatch.streams.adapters.ingest import Ingestor
    from wardwatch.streams.publish import RecordProducer

    raw = b"MSH|^~\\&|MON|ICU|WW|HOSP|20260301101500||ADT^A01|X-1|P|2.6\rPID|||MRN-DLQ-77||Snodgrass^Augustus\r"

    async def reject() -> None:
        async with RecordProducer(isolated.settings.kafka) as producer:
            ingestor = Ingestor(Hl7OruAdapter(AdapterContext(secret=TEST_SECRET.encode())), producer, source="hl7-mllp")
            outcome = await ingestor.ingest(raw)
            assert not outcome.ok

    asyncio.run(reject())

    def show(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "wardwatch", "dlq", "show", *args], capture_output=True, text=True,
                             timeout=60, env=isolated.env)
        assert out.returncode == 0, out.stderr
        return out.stdout

    sealed = show()
    assert "adapter:hl7-oru" in sealed and "MSH-9" in sealed and "sealed (" in sealed
    assert "Snodgrass" not in sealed and "MRN-DLQ-77" not in sealed
    opened = show("--unseal")
    assert "Snodgrass^Augustus" in opened and "MRN-DLQ-77" in opened
