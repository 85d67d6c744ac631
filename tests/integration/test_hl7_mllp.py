"""HL7 v2 over MLLP into the real Kafka: ACKs, records on the topics, dead letters, privacy, the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

import hl7
from hl7.client import MLLPClient

from wardwatch.streams.adapters.base import AdapterContext
from wardwatch.streams.adapters.hl7_mllp import Hl7OruAdapter, MllpListener, start_listener
from wardwatch.streams.codec import CONTENT_TYPE, decode
from wardwatch.streams.deadletter import parse_dead_letter_headers
from wardwatch.streams.publish import RecordProducer

from ..adapters import hl7_samples as S
from wardwatch.streams.sealing import unseal

from ..conftest import TEST_SECRET
from .conftest import Isolated, assert_private, consume, free_port

PARTIAL = S.PCD01_NUMERICS.replace(b"MSG-0001", b"MSG-0002") + b"OBX|7|NM|99999-9^Nothing^LN||1|/min|||||F|||20260301101500\r"


def _context(isolated: Isolated) -> AdapterContext:
    return AdapterContext(secret=TEST_SECRET.encode(), ward=isolated.settings.ward.name)


def _send(port: int, payloads: Sequence[bytes]) -> list[tuple[str, str, str]]:
    """Send with python-hl7's blocking MLLP client; return (MSA-1, MSA-2, MSA-3) of each ACK."""
    answers = []
    with MLLPClient("127.0.0.1", port) as client:
        for payload in payloads:
            raw = client.send_message(payload)
            ack = hl7.parse(raw.strip(b"\x0b\x1c\r").decode())
            msa = ack.segment("MSA")
            answers.append((str(msa(1)), str(msa(2)), ack.unescape(str(msa(3))) if len(msa) > 3 else ""))
    return answers


def _run_listener(isolated: Isolated, payload_batches: Sequence[Sequence[bytes]]) -> tuple[list[list[tuple[str, str, str]]], dict[str, object]]:
    """Start the listener in-process with a RecordProducer to the test's topics; send each batch on its own connection."""

    async def scenario() -> tuple[list[list[tuple[str, str, str]]], dict[str, object]]:
        async with RecordProducer(isolated.settings.kafka) as producer:
            listener: MllpListener = await start_listener(_context(isolated), producer, "127.0.0.1", 0)
            try:
                answers = [await asyncio.to_thread(_send, listener.port, batch) for batch in payload_batches]
            finally:
                await listener.close()
            return answers, listener.counters()

    return asyncio.run(scenario())






def test_valid_oru_is_acked_aa_and_its_records_reach_kafka(isolated: Isolated) -> None:
    (answers,), counters = _run_listener(isolated, [[S.PCD01_NUMERICS, S.WAVEFORMS]])
    assert answers == [("AA", "MSG-0001", ""), ("AA", "W-1", "")]
    expected = Hl7OruAdapter(_context(isolated)).parse(S.PCD01_NUMERICS + S.WAVEFORMS.split(b"\r", 1)[1]).records
    messages = consume(isolated, ["numerics", "waveforms"], 7)
    assert sorted((decode(m.value) for m in messages), key=repr) == sorted(expected, key=repr)
    assert len(expected) == 7 and sum(m.topic == isolated.topics["waveforms"] for m in messages) == 2
    for message in messages:
        assert message.key == decode(message.value).patient_ref.encode()
        assert ("content-type", CONTENT_TYPE.encode()) in message.headers
    assert counters["accepted"] == 7 and counters["dead_lettered"] == 0
    assert_private(isolated, [S.PCD01_NUMERICS, S.WAVEFORMS], S.IDENTIFIERS)


def test_one_bad_obx_gives_ae_good_obx_on_the_topic_and_the_message_on_the_dlq(isolated: Isolated) -> None:
    (answers,), _ = _run_listener(isolated, [[PARTIAL]])
    code, control_id, text = answers[0]
    assert (code, control_id) == ("AE", "MSG-0002") and "99999-9" in text
    numerics = consume(isolated, ["numerics"], 5)
    assert sorted(decode(m.value).signal for m in numerics) == sorted(s for s, _, _ in S.PCD01_EXPECTED)
    (letter_message,) = consume(isolated, ["dlq"], 1)
    assert unseal(letter_message.value, TEST_SECRET.encode()) == PARTIAL  # sealed original bytes
    letter = parse_dead_letter_headers(letter_message.headers)
    assert letter.field == "OBX[7]-3" and "not a signal WardWatch knows" in letter.reason
    assert letter.stage == "adapter:hl7-oru" and letter.source_topic == "hl7-mllp" and letter.failed_at_ns > 0
    assert_private(isolated, [PARTIAL], S.IDENTIFIERS)


def test_garbage_and_non_oru_get_ar_go_to_the_dlq_and_the_listener_keeps_answering(isolated: Isolated) -> None:
    garbage = b"\x00\x01 this is not HL7 \xff"
    answers, counters = _run_listener(isolated, [[garbage, S.ADT], [S.LOINC_VITALS]])
    assert [a[:2] for a in answers[0]] == [("AR", ""), ("AR", "A-1")]
    assert "not ORU^R01" in answers[0][1][2]
    assert answers[1] == [("AA", "C-77", "")]
    letters = {unseal(m.value, TEST_SECRET.encode()): parse_dead_letter_headers(m.headers) for m in consume(isolated, ["dlq"], 2)}  # unkeyed: any order
    assert sorted(letters) == sorted([garbage, S.ADT])
    assert (letters[garbage].field, letters[S.ADT].field) == ("$", "MSH-9")
    assert len(consume(isolated, ["numerics"], 4)) == 4
    assert counters["received"] == 3 and counters["dead_lettered"] == 2
    assert_private(isolated, [garbage, S.ADT, S.LOINC_VITALS], S.IDENTIFIERS)




def test_cli_serve_runs_the_listener_into_kafka_and_logs_counters_on_stop(isolated: Isolated) -> None:
    port = free_port()
    env = {**isolated.env, "WARDWATCH_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen([sys.executable, "-m", "wardwatch", "adapters", "serve", "hl7-oru", "--port", str(port), "--log-every", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answers = _send(port, [S.LOINC_VITALS])
                break
            except ConnectionRefusedError:
                assert proc.poll() is None, proc.communicate()[0]
                time.sleep(0.3)
        else:
            raise AssertionError("the listener did not start")
        assert answers == [("AA", "C-77", "")]
        assert len(consume(isolated, ["numerics"], 4)) == 4
        time.sleep(1.5)  # at least one periodic counter line
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert f"hl7-oru listening on 127.0.0.1:{port}" in output
    assert "adapter hl7-oru counters: {'received': 1, 'accepted': 4" in output
    assert "adapter hl7-oru stopped; counters: {'received': 1, 'accepted': 4" in output
    for word in S.IDENTIFIERS:
        assert word.lower() not in output.lower()
    assert os.environ.get("WARDWATCH_PSEUDONYM_SECRET") is None  # the test's secret went to the child only
