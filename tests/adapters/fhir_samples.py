"""FHIR R4 vital-signs test resources (made up: no real patient), shared by unit, integration and bench code."""

from __future__ import annotations

import copy
import json
from typing import Any

#: Every patient identifier and name in these resources: none may reach a record.
IDENTIFIERS = ["MRN-000789", "pat-4711", "Featherstonehaugh", "Ottoline"]

VITAL_SIGNS = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]
SUBJECT = {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-000789"}, "display": "Ottoline Featherstonehaugh"}


def quantity(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": "http://unitsofmeasure.org", "code": code}


def observation(loinc: str, value: float | None = None, unit: str = "", **extra: Any) -> dict[str, Any]:
    """A vital-signs Observation with one LOINC code (and a valueQuantity when ``value`` is given)."""
    obs: dict[str, Any] = {
        "resourceType": "Observation", "status": "final", "category": copy.deepcopy(VITAL_SIGNS),
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": copy.deepcopy(SUBJECT), "effectiveDateTime": "2026-03-01T10:15:00+01:00",
        "device": {"identifier": {"value": "MON-7"}, "display": "Bed 12 monitor"},
    }
    if value is not None:
        obs["valueQuantity"] = quantity(value, unit)
    obs.update(extra)
    return obs


def blood_pressure(systolic: float, diastolic: float, unit: str = "mm[Hg]", **extra: Any) -> dict[str, Any]:
    return observation("85354-9", component=[
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": quantity(systolic, unit)},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": quantity(diastolic, unit)},
    ], **extra)


def bundle(kind: str, *resources: dict[str, Any]) -> dict[str, Any]:
    entries = [{"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{i:012d}", "resource": r} for i, r in enumerate(resources)]
    if kind in ("batch", "transaction"):
        for entry in entries:
            entry["request"] = {"method": "POST", "url": "Observation"}
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


HEART_RATE = observation("8867-4", 72, "/min")
SPO2_MDC = observation("59408-5", 97, "%", code={"coding": [
    {"system": "urn:iso:std:iso:11073:10101", "code": "150456", "display": "MDC_PULS_OXIM_SAT_O2"},
    {"system": "http://loinc.org", "code": "59408-5"}]}, subject={"reference": "Patient/pat-4711"},
    effectiveInstant="2026-03-01T09:15:00.250Z")
del SPO2_MDC["effectiveDateTime"]
RESP_RATE = observation("9279-1", 18, "/min")
TEMPERATURE_F = observation("8310-5", 98.6, "[degF]")
MEAN_BP_KPA = observation("8478-0", 12.0, "kPa")
BP_PANEL = blood_pressure(121, 79)
COLLECTION = bundle("collection", HEART_RATE, BP_PANEL)
TRANSACTION = bundle("transaction", RESP_RATE, observation("2708-6", 94, "%"))

BAD_UNIT = observation("8867-4", 72, "mm[Hg]")
UNKNOWN_CODE = observation("1234-5", 1, "/min")
ENTERED_IN_ERROR = observation("8867-4", 72, "/min", status="entered-in-error")
NO_SUBJECT = {k: v for k, v in HEART_RATE.items() if k != "subject"}
DATE_ONLY = observation("8867-4", 72, "/min", effectiveDateTime="2026-03-01")
NOT_A_NUMBER = observation("8867-4", None, valueQuantity={"value": "seventy", "code": "/min"})
IMPLAUSIBLE = observation("8867-4", 720, "/min")
TRANSACTION_ONE_BAD = bundle("transaction", HEART_RATE, BAD_UNIT)

MALFORMED = [
    b"", b"not json", b"[1, 2]", b'{"resourceType": "Patient", "id": "pat-4711"}', dumps({"resourceType": "Observation"}),
    dumps(BAD_UNIT), dumps(UNKNOWN_CODE), dumps(ENTERED_IN_ERROR), dumps(NO_SUBJECT), dumps(DATE_ONLY), dumps(NOT_A_NUMBER),
    dumps(IMPLAUSIBLE), dumps({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": HEART_RATE}]}),
    dumps({"resourceType": "Bundle", "type": "collection", "entry": []}), dumps(TRANSACTION_ONE_BAD),
    dumps(bundle("batch", HEART_RATE, {"resourceType": "Patient", "id": "pat-4711"})),
]
