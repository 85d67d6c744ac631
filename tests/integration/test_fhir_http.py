"""FHIR R4 over real HTTP into the real Kafka: statuses, OperationOutcomes, records, dead letters, privacy, the CLI."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import requests
from fhir.resources.R4B.operationoutcome import OperationOutcome

from wardwatch.streams.adapters.base import AdapterContext
from wardwatch.streams.adapters.fhir import FhirServer, start_listener
from wardwatch.streams.codec import decode
from wardwatch.streams.deadletter import parse_dead_letter_headers
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.publish import RecordProducer

from ..adapters import fhir_samples as F
from wardwatch.streams.sealing import unseal

from ..conftest import TEST_SECRET
from .conftest import Isolated, assert_private, consume, free_port

Reply = tuple[int, dict[str, Any]]


def _context(isolated: Isolated) -> AdapterContext:
    return AdapterContext(secret=TEST_SECRET.encode(), ward=isolated.settings.ward.name)


def _run_server(isolated: Isolated, requests_: Sequence[tuple[str, bytes, str]]) -> tuple[list[Reply], dict[str, object]]:
    """Start the FHIR server in-process with a RecordProducer to the test's topics; POST each (path, body, content type)."""

    async def scenario() -> tuple[list[Reply], dict[str, object]]:
        async with RecordProducer(isolated.settings.kafka) as producer:
            server: FhirServer = await start_listener(_context(isolated), producer, "127.0.0.1", 0)
            replies: list[Reply] = []
            try:
                async with aiohttp.ClientSession() as session:
                    for path, body, content_type in requests_:
                        url = f"http://127.0.0.1:{server.port}{path}"
                        async with session.post(url, data=body, headers={"Content-Type": content_type}) as response:
                            replies.append((response.status, await response.json(content_type=None)))
            finally:
                await server.close()
            return replies, server.counters()

    return asyncio.run(scenario())






def _issues(doc: dict[str, Any]) -> list[tuple[str, str, str, list[str] | None]]:
    outcome = OperationOutcome.model_validate(doc)
    return [(i.severity, i.code, i.diagnostics or "", i.expression) for i in outcome.issue]


def test_valid_observation_gets_201_and_its_record_reaches_kafka(isolated: Isolated) -> None:
    body = F.dumps(F.HEART_RATE)
    (reply,), counters = _run_server(isolated, [("/fhir/Observation", body, "application/fhir+json")])
    assert reply[0] == 201 and _issues(reply[1])[0][:2] == ("information", "informational")
    (message,) = consume(isolated, ["numerics"], 1)
    record = decode(message.value)
    assert (record.signal, record.value, record.unit) == ("MDC_ECG_HEART_RATE", 72.0, "/min")
    assert record.patient_ref == pseudonymize("MRN-000789", TEST_SECRET.encode()) and message.key == record.patient_ref.encode()
    assert counters["accepted"] == 1
    assert_private(isolated, [body], F.IDENTIFIERS)


def test_bp_panel_bundle_gives_two_records(isolated: Isolated) -> None:
    body = F.dumps(F.bundle("transaction", F.BP_PANEL))
    (reply,), _ = _run_server(isolated, [("/fhir", body, "application/json")])
    assert reply[0] == 200 and "accepted 2" in _issues(reply[1])[0][2]
    records = sorted((decode(m.value) for m in consume(isolated, ["numerics"], 2)), key=lambda r: r.signal)
    assert [(r.signal, r.value) for r in records] == [("MDC_PRESS_BLD_NONINV_DIA", 79.0), ("MDC_PRESS_BLD_NONINV_SYS", 121.0)]
    assert records[0].timestamp_ns == records[1].timestamp_ns
    assert_private(isolated, [body], F.IDENTIFIERS)


def test_invalid_resource_gets_422_with_diagnostics_and_goes_to_the_dlq(isolated: Isolated) -> None:
    bad_unit, not_json = F.dumps(F.BAD_UNIT), b"<Observation xmlns='http://hl7.org/fhir'/>"
    replies, counters = _run_server(isolated, [
        ("/fhir/Observation", bad_unit, "application/fhir+json"),
        ("/fhir/Observation", not_json, "application/fhir+json"),
        ("/fhir/Observation", F.dumps(F.RESP_RATE), "application/fhir+json"),  # still serving
    ])
    (status, doc), (status_400, doc_400), (status_ok, _) = replies
    (severity, code, text, where), = _issues(doc)
    assert status == 422 and severity == "error" and where == ["Observation.valueQuantity.code"] and "carried in '/min'" in text
    assert status_400 == 400 and _issues(doc_400)[0][1] == "structure"
    assert status_ok == 201
    letters = {unseal(m.value, TEST_SECRET.encode()): m for m in consume(isolated, ["dlq"], 2)}  # unkeyed: any partition, any order
    assert sorted(letters) == sorted([bad_unit, not_json])
    first = parse_dead_letter_headers(letters[bad_unit].headers)
    assert first.field == "Observation.valueQuantity.code" and first.stage == "adapter:fhir-r4" and first.source_topic == "fhir-http"
    assert [decode(m.value).signal for m in consume(isolated, ["numerics"], 1)] == ["MDC_RESP_RATE"]
    assert counters["dead_lettered"] == 2
    assert_private(isolated, [bad_unit, not_json, F.dumps(F.RESP_RATE)], F.IDENTIFIERS)




def test_cli_serve_runs_the_http_server_into_kafka(isolated: Isolated) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "wardwatch", "adapters", "serve", "fhir-r4", "--port", str(port)],
                            env=isolated.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                metadata = requests.get(f"{url}/metadata", timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert metadata.status_code == 200 and metadata.json()["resourceType"] == "CapabilityStatement"
        reply = requests.post(f"{url}/Observation", data=F.dumps(F.TEMPERATURE_F), headers={"Content-Type": "application/fhir+json"}, timeout=10)
        assert reply.status_code == 201, reply.text
        (message,) = consume(isolated, ["numerics"], 1)
        assert (decode(message.value).signal, decode(message.value).value) == ("MDC_TEMP_BODY", 37.0)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "adapter fhir-r4 stopped; counters: {'received': 1, 'accepted': 1" in output
    assert all(word.lower() not in output.lower() for word in F.IDENTIFIERS)
