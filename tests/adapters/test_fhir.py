"""The FHIR R4 adapter: conformance, element mapping, and the HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.adapters.base import AdapterContext
from wardwatch.streams.adapters.fhir import FhirR4Adapter, FhirServer
from wardwatch.streams.adapters.hl7_mllp import Hl7OruAdapter
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import Record

from . import fhir_samples as F
from . import hl7_samples as S
from wardwatch.streams.sealing import unseal

from .conformance import CONFORMANCE_SECRET, AdapterConformance, MemorySink, Sample


class TestFhirR4Conformance(AdapterConformance):
    adapter_class = FhirR4Adapter
    valid_samples = [
        Sample(F.dumps(F.HEART_RATE), [("MDC_ECG_HEART_RATE", 72.0, "/min")], "heart rate"),
        Sample(F.dumps(F.SPO2_MDC), [("MDC_PULS_OXIM_SAT_O2", 97.0, "%")], "SpO2 with an MDC coding, effectiveInstant"),
        Sample(F.dumps(F.RESP_RATE), [("MDC_RESP_RATE", 18.0, "/min")], "respiratory rate"),
        Sample(F.dumps(F.TEMPERATURE_F), [("MDC_TEMP_BODY", 37.0, "Cel")], "temperature in degF"),
        Sample(F.dumps(F.MEAN_BP_KPA), [("MDC_PRESS_BLD_NONINV_MEAN", 90.007389, "mm[Hg]")], "MAP in kPa"),
        Sample(F.dumps(F.BP_PANEL), [("MDC_PRESS_BLD_NONINV_SYS", 121.0, "mm[Hg]"), ("MDC_PRESS_BLD_NONINV_DIA", 79.0, "mm[Hg]")], "BP panel"),
        Sample(F.dumps(F.COLLECTION), [("MDC_ECG_HEART_RATE", 72.0, "/min"), ("MDC_PRESS_BLD_NONINV_SYS", 121.0, "mm[Hg]"),
                                       ("MDC_PRESS_BLD_NONINV_DIA", 79.0, "mm[Hg]")], "collection Bundle"),
        Sample(F.dumps(F.TRANSACTION), [("MDC_RESP_RATE", 18.0, "/min"), ("MDC_PULS_OXIM_SAT_O2", 94.0, "%")], "transaction Bundle"),
    ]
    malformed_samples = F.MALFORMED
    identifiers = F.IDENTIFIERS
    fuzz_separators = (b",", b":", b"{")


def _adapter() -> FhirR4Adapter:
    return FhirR4Adapter(AdapterContext(secret=CONFORMANCE_SECRET, ward="ward-f"))


def test_elements_map_to_the_record() -> None:
    hr, = _adapter().parse(F.dumps(F.HEART_RATE)).records
    assert hr.patient_ref == pseudonymize("MRN-000789", CONFORMANCE_SECRET)  # subject.identifier, as HL7's PID-3
    assert (hr.ward, hr.bed, hr.device_id) == ("ward-f", "unknown", "MON-7")
    assert hr.timestamp_ns == 1_772_356_500_000_000_000  # 2026-03-01T09:15:00Z
    spo2, = _adapter().parse(F.dumps(F.SPO2_MDC)).records
    assert spo2.patient_ref == pseudonymize("pat-4711", CONFORMANCE_SECRET)  # Patient/<id>
    assert spo2.timestamp_ns == 1_772_356_500_250_000_000


def test_bp_panel_components_share_time_patient_and_device() -> None:
    sys_, dia = _adapter().parse(F.dumps(F.blood_pressure(16.0, 10.6, "kPa"))).records
    assert (round(sys_.value), round(dia.value)) == (120, 80)
    assert sys_.timestamp_ns == dia.timestamp_ns and sys_.patient_ref == dia.patient_ref and sys_.device_id == dia.device_id


def test_a_bad_batch_entry_is_a_problem_and_the_others_go_through() -> None:
    doc = F.bundle("batch", F.HEART_RATE, F.BAD_UNIT, F.RESP_RATE)
    result = _adapter().parse(F.dumps(doc))
    assert [r.signal for r in result.records] == ["MDC_ECG_HEART_RATE", "MDC_RESP_RATE"]
    problem, = result.problems
    assert problem.field == "Bundle.entry[1].resource.valueQuantity.code" and "'/min'" in problem.reason


def test_a_transaction_is_all_or_nothing() -> None:
    result = _adapter().parse(F.dumps(F.TRANSACTION_ONE_BAD))
    assert result.records == []
    assert [p.field for p in result.problems] == ["Bundle.entry[1].resource.valueQuantity.code", "Bundle.type"]


@pytest.mark.parametrize("doc, field, words", [
    (F.ENTERED_IN_ERROR, "Observation.status", "entered-in-error"),
    (F.NO_SUBJECT, "Observation.subject", "Patient reference"),
    (F.DATE_ONLY, "Observation.effectiveDateTime", "without a time"),
    (F.NOT_A_NUMBER, "Observation.valueQuantity.value", "Decimal"),
    (F.UNKNOWN_CODE, "Observation.code.coding", "1234-5"),
    (F.IMPLAUSIBLE, "Observation.valueQuantity.value", "plausible range"),
    ({**F.HEART_RATE, "subject": {"reference": "Group/ward-5"}}, "Observation.subject", "Patient reference"),
    ({**F.HEART_RATE, "code": {"coding": [{"system": "http://snomed.info/sct", "code": "364075005"}]}}, "Observation.code.coding", "LOINC"),
])
def test_invalid_observations_name_the_element(doc: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SchemaValidationError) as info:
        _adapter().parse(F.dumps(doc))
    assert info.value.field == field and words in info.value.reason
    for word in F.IDENTIFIERS:
        assert word.lower() not in info.value.reason.lower()


# --- the HTTP server ---------------------------------------------------------------------------------

class _FailingSink(MemorySink):
    async def send_records(self, records: Sequence[Record]) -> None:
        raise ConnectionError("broker gone")


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, content_type: str = "application/fhir+json") -> tuple[int, dict[str, Any]]:
    async with session.post(url, data=body, headers={"Content-Type": content_type}) as response:
        assert response.content_type == "application/fhir+json"
        return response.status, json.loads(await response.read())


def _issues(doc: dict[str, Any]) -> list[tuple[str, str, str, list[str] | None]]:
    outcome = OperationOutcome.model_validate(doc)  # a valid FHIR OperationOutcome
    return [(i.severity, i.code, i.diagnostics or "", i.expression) for i in outcome.issue]


def test_server_answers_with_status_and_operation_outcome() -> None:
    sink = MemorySink()

    async def run() -> None:
        server = FhirServer(AdapterContext(secret=CONFORMANCE_SECRET, ward="ward-f"), sink)
        await server.start("127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.port}/fhir"
        try:
            async with aiohttp.ClientSession() as session:
                status, doc = await _post(session, f"{base}/Observation", F.dumps(F.HEART_RATE))
                assert status == 201 and _issues(doc)[0][:2] == ("information", "informational")
                status, doc = await _post(session, base, F.dumps(F.COLLECTION), "application/json")
                assert status == 200 and "accepted 3" in _issues(doc)[0][2]  # de-duplication is per endpoint
                status, doc = await _post(session, f"{base}/Observation", F.dumps(F.BAD_UNIT))
                (severity, code, text, where), = _issues(doc)
                assert status == 422 and (severity, code) == ("error", "code-invalid")
                assert where == ["Observation.valueQuantity.code"] and "carried in '/min'" in text
                status, doc = await _post(session, f"{base}/Observation", b"{not json")
                assert status == 400 and _issues(doc)[0][1] == "structure"
                status, doc = await _post(session, f"{base}/Observation", F.dumps(F.COLLECTION))  # a Bundle is posted to /fhir
                assert status == 422 and _issues(doc)[0][3] == ["resourceType"]
                status, doc = await _post(session, base, F.dumps(F.bundle("batch", F.RESP_RATE, F.UNKNOWN_CODE)))
                issues = _issues(doc)
                assert status == 422 and [i[0] for i in issues] == ["error", "information"] and "accepted 1" in issues[1][2]
                status, doc = await _post(session, base, F.dumps(F.HEART_RATE), "text/plain")
                assert status == 415
                async with session.get(f"{base}/metadata") as response:
                    statement = CapabilityStatement.model_validate(await response.json(content_type=None))
                    assert statement.rest[0].resource[0].type == "Observation"
            counters = server.counters()
            assert counters["received"] == 6 and counters["dead_lettered"] == 4 and counters["unsupported_media"] == 1
        finally:
            await server.close()

    asyncio.run(run())
    assert [r.signal for r in sink.records] == ["MDC_ECG_HEART_RATE", "MDC_ECG_HEART_RATE", "MDC_PRESS_BLD_NONINV_SYS", "MDC_PRESS_BLD_NONINV_DIA", "MDC_RESP_RATE"]
    assert [unseal(p, CONFORMANCE_SECRET) for p, _, _ in sink.letters][:2] == [F.dumps(F.BAD_UNIT), b"{not json"]


def test_server_says_503_when_records_cannot_be_stored() -> None:
    async def run() -> None:
        server = FhirServer(AdapterContext(secret=CONFORMANCE_SECRET), _FailingSink())
        await server.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                status, doc = await _post(session, f"http://127.0.0.1:{server.port}/fhir/Observation", F.dumps(F.HEART_RATE))
                assert status == 503 and _issues(doc)[0][1] == "transient"
                status, _ = await _post(session, f"http://127.0.0.1:{server.port}/fhir/Observation", b"[]")
                assert status == 422  # still serving
        finally:
            await server.close()

    asyncio.run(run())


def test_one_patient_gets_one_reference_through_hl7_and_fhir() -> None:
    context = AdapterContext(secret=CONFORMANCE_SECRET)
    via_hl7 = Hl7OruAdapter(context).parse(S.PCD01_NUMERICS).records[0].patient_ref  # PID-3 MRN-000123
    doc = {**F.HEART_RATE, "subject": {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-000123"}}}
    via_fhir = FhirR4Adapter(context).parse(F.dumps(doc)).records[0].patient_ref
    assert via_hl7 == via_fhir
