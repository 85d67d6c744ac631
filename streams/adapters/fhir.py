"""FHIR R4 vital-signs Observations (alone or in a Bundle) over HTTP into canonical records.

:class:`FhirR4Adapter` (registry name ``fhir-r4``) reads a JSON ``Observation`` or a ``Bundle``
(``collection``, ``batch`` or ``transaction``) of Observations and validates each Observation
with the ``fhir.resources.R4B`` models (fhir.resources 8.3 ships R5 as its default, R4B and STU3;
R4B is FHIR 4.3, whose Observation, Bundle and OperationOutcome are those of R4 4.0.1).

==================== ========================================================================
Observation element  becomes
==================== ========================================================================
``code``             the signal: a LOINC (``http://loinc.org``: 8867-4 HR, 59408-5/2708-6
                     SpO2, 9279-1 RR, 8310-5 temperature, 8478-0 MAP, ...) or MDC
                     (``urn:iso:std:iso:11073:10101``) coding that
                     :func:`~wardwatch.streams.signals.lookup` knows
``component``        one record per component with a known code and a ``valueQuantity`` (the
                     85354-9 blood-pressure panel gives systolic 8480-6 and diastolic 8462-4)
``valueQuantity``    the value, converted from its UCUM ``code`` (or ``unit``) to the canonical unit
``subject``          ``identifier.value`` (preferred: the MRN, so FHIR and HL7 meet) or the id of a
                     ``Patient/<id>`` reference: pseudonymized, then dropped; ``display`` is never read
``device``           ``identifier.value`` or the id of a ``Device/<id>`` reference → device id
``effective[x]``     ``effectiveDateTime`` or ``effectiveInstant`` (to the second at least; no
                     offset means UTC) → timestamp
``status``           final, amended, corrected or preliminary; others are rejected
==================== ========================================================================

FHIR Observations carry no bed: records get the context's ward and bed ``unknown``.

A bad entry of a collection or batch Bundle is a :class:`~wardwatch.streams.adapters.base.Problem`
named by its FHIRPath (``Bundle.entry[2].resource.valueQuantity.code``); the other entries go
through. A transaction Bundle is all or nothing. A body that is not JSON, or a lone Observation
that is invalid, raises :class:`~wardwatch.errors.SchemaValidationError`.

:class:`FhirServer` is an aiohttp app: ``POST /fhir/Observation`` (201) and ``POST /fhir`` (a
Bundle; 200) with ``application/fhir+json`` or ``application/json``, answered with an
OperationOutcome: information on success; 400 when the body is not JSON, 422 when it is JSON but
not acceptable (with one issue per problem: diagnostics and expression); 503 when the records
could not be stored. Accepted records are de-duplicated, so a retry is harmless. ``GET
/fhir/metadata`` returns a CapabilityStatement.

>>> from wardwatch.streams.adapters.base import AdapterContext
>>> ctx = AdapterContext(secret=b"0123456789abcdef", ward="ward-a")
>>> body = b'''{"resourceType": "Observation", "status": "final",
...   "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
...   "subject": {"identifier": {"value": "MRN-1"}}, "effectiveDateTime": "2026-03-01T10:00:00+01:00",
...   "valueQuantity": {"value": 98.6, "system": "http://unitsofmeasure.org", "code": "[degF]"}}'''
>>> [(r.signal, r.value, r.unit) for r in FhirR4Adapter(ctx).parse(body).records]
[('MDC_TEMP_BODY', 37.0, 'Cel')]
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError

from wardwatch.errors import SchemaValidationError, UnknownSignalError
from wardwatch.streams.adapters.base import Adapter, AdapterContext, ParseResult, Problem
from wardwatch.streams.adapters.ingest import Ingestor, IngestOutcome, RecordSink
from wardwatch.streams.records import NumericObservation
from wardwatch.streams.signals import SignalSpec, lookup
from wardwatch.streams.units import to_canonical

__all__ = ["FhirR4Adapter", "FhirServer", "operation_outcome", "start_listener", "FHIR_JSON"]

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
ACCEPTED_STATUS = frozenset({"final", "amended", "corrected", "preliminary"})
BUNDLE_TYPES = frozenset({"collection", "batch", "transaction"})
NOT_JSON = "the body is not JSON"

_IDENT_BAD = re.compile(r"[^A-Za-z0-9._:-]+")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _ident(text: str, fallback: str) -> str:
    return _IDENT_BAD.sub("-", text).strip("-")[:64] or fallback


def _path(prefix: str, loc: Iterable[Any]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.replace(".resource_type", ".resourceType")


def _validate(model: type[Any], data: dict[str, Any], prefix: str) -> Any:
    """Validate ``data`` with a fhir.resources model; a SchemaValidationError names the first bad element."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        reason = " ".join(str(first["msg"]).split())  # never the input: it may hold identifiers
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaValidationError(_path(prefix, first["loc"]), reason + more) from None
    except Exception as exc:  # fhir.resources raises a few other kinds on odd input
        raise SchemaValidationError(prefix, f"not a valid {model.__name__} ({type(exc).__name__})") from None


def _reference_id(reference: str | None, kind: str) -> str:
    """The id of ``Kind/<id>`` (relative, absolute or versioned); empty if it is another kind."""
    if not reference:
        return ""
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return parts[-1].strip() if len(parts) >= 2 and parts[-2] == kind else ""


def _epoch_ns(when: object, path: str) -> int:
    if not isinstance(when, dt.datetime):
        raise SchemaValidationError(path, "a date without a time cannot place a vital sign; give the time to the second")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (when - _EPOCH) // dt.timedelta(microseconds=1) * 1000


class FhirR4Adapter(Adapter):
    """FHIR R4 vital-signs Observations and Bundles of them into numeric observations."""

    name = "fhir-r4"
    summary = "FHIR R4 vital-signs Observation / Bundle (JSON over HTTP)"

    def __init__(self, context: AdapterContext, resource_types: tuple[str, ...] = ("Observation", "Bundle")) -> None:
        super().__init__(context)
        self.resource_types = resource_types

    def parse(self, payload: bytes) -> ParseResult:
        try:
            doc = json.loads(payload)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise SchemaValidationError("$", f"{NOT_JSON} (FHIR JSON: application/fhir+json)") from None
        kind = doc.get("resourceType") if isinstance(doc, dict) else None
        if kind not in self.resource_types:
            shown = f"resourceType {kind[:40]!r} is" if isinstance(kind, str) else "a JSON document without a resourceType is"
            raise SchemaValidationError("resourceType", f"{shown} not accepted here; expected {' or '.join(self.resource_types)}")
        if kind == "Observation":
            return ParseResult(self._observation(doc, "Observation"))
        return self._bundle(doc)

    def _bundle(self, doc: dict[str, Any]) -> ParseResult:
        entries = doc.get("entry")
        if not isinstance(entries, list) or not entries:
            raise SchemaValidationError("Bundle.entry", "the Bundle has no entries")
        shell = {**doc, "entry": [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e for e in entries]}
        bundle = _validate(Bundle, shell, "Bundle")
        if bundle.type not in BUNDLE_TYPES:
            raise SchemaValidationError("Bundle.type", f"{str(bundle.type)[:20]!r} is not accepted; use {', '.join(sorted(BUNDLE_TYPES))}")
        result = ParseResult()
        for i, entry in enumerate(entries):
            path = f"Bundle.entry[{i}].resource"
            resource = entry.get("resource") if isinstance(entry, dict) else None
            try:
                if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
                    raise SchemaValidationError(path, "every entry must hold an Observation")
                result.records.extend(self._observation(resource, path))
            except SchemaValidationError as exc:
                result.problems.append(Problem(exc.field, exc.reason))
        if bundle.type == "transaction" and result.problems:
            n = len(entries)
            result.problems.append(Problem("Bundle.type", f"transaction: none of the {n} entries was accepted because {len(result.problems)} failed"))
            result.records.clear()
        return result

    def _observation(self, data: dict[str, Any], path: str) -> list[NumericObservation]:
        obs = _validate(Observation, data, path)
        if obs.status not in ACCEPTED_STATUS:
            raise SchemaValidationError(f"{path}.status", f"{str(obs.status)[:20]!r} carries no usable value; accepted: {', '.join(sorted(ACCEPTED_STATUS))}")
        patient_ref = self._patient(obs, path)
        device = "fhir"
        if obs.device is not None:
            device_id = (obs.device.identifier.value if obs.device.identifier else None) or _reference_id(obs.device.reference, "Device")
            device = _ident(device_id or "", "fhir")
        if obs.effectiveDateTime is not None:
            when = _epoch_ns(obs.effectiveDateTime, f"{path}.effectiveDateTime")
        elif obs.effectiveInstant is not None:
            when = _epoch_ns(obs.effectiveInstant, f"{path}.effectiveInstant")
        else:
            raise SchemaValidationError(f"{path}.effective[x]", "needs effectiveDateTime or effectiveInstant")

        def record(spec: SignalSpec, quantity: Any, where: str) -> NumericObservation:
            value = self._value(spec, quantity, where)
            try:
                return NumericObservation(patient_ref=patient_ref, ward=self.context.ward, bed="unknown", device_id=device,
                                          signal=spec.code, unit=spec.unit, timestamp_ns=when, value=value)
            except SchemaValidationError as exc:
                field = {"$.value": f"{where}.value", "$.timestamp_ns": f"{path}.effective[x]"}.get(exc.field, where)
                raise SchemaValidationError(field, exc.reason) from None

        records: list[NumericObservation] = []
        if obs.valueQuantity is not None:
            records.append(record(self._signal(obs.code, f"{path}.code"), obs.valueQuantity, f"{path}.valueQuantity"))
        for i, component in enumerate(obs.component or []):
            where = f"{path}.component[{i}]"
            if component.valueQuantity is None:
                raise SchemaValidationError(f"{where}.value[x]", "a component needs a valueQuantity")
            records.append(record(self._signal(component.code, f"{where}.code"), component.valueQuantity, f"{where}.valueQuantity"))
        if not records:
            absent = obs.dataAbsentReason.coding[0].code if obs.dataAbsentReason and obs.dataAbsentReason.coding else None
            reason = f"no value (dataAbsentReason {absent!r})" if absent else "needs a valueQuantity or components with one"
            raise SchemaValidationError(f"{path}.value[x]", reason)
        return records

    def _patient(self, obs: Observation, path: str) -> str:
        subject = obs.subject
        identifier = ""
        if subject is not None:
            if subject.identifier is not None and subject.identifier.value:
                identifier = subject.identifier.value
            else:
                identifier = _reference_id(subject.reference, "Patient")
        if not identifier.strip():
            raise SchemaValidationError(f"{path}.subject", "needs a Patient reference (Patient/<id>) or a subject identifier")
        return self.context.pseudonymize(identifier)

    @staticmethod
    def _signal(concept: Any, path: str) -> SignalSpec:
        if concept is None:
            raise SchemaValidationError(path, "required: the code of the observation")
        shown: list[str] = []
        for coding in concept.coding or []:
            if coding.system in (LOINC, MDC) and coding.code:
                try:
                    return lookup(coding.code)
                except UnknownSignalError:
                    shown.append(f"{coding.system}|{coding.code}"[:80])
        if shown:
            raise SchemaValidationError(f"{path}.coding", f"{', '.join(shown)} is not a vital sign WardWatch knows")
        raise SchemaValidationError(f"{path}.coding", f"needs a LOINC ({LOINC}) or MDC ({MDC}) coding")

    @staticmethod
    def _value(spec: SignalSpec, quantity: Any, where: str) -> float:
        if quantity.value is None:
            raise SchemaValidationError(f"{where}.value", "the quantity has no value")
        unit = quantity.code if quantity.code and quantity.system in (UCUM, None) else quantity.unit
        if not unit and spec.unit != "1":
            raise SchemaValidationError(f"{where}.code", f"no UCUM code or unit; {spec.code} is carried in {spec.unit!r}")
        try:
            return to_canonical(spec.code, float(quantity.value), unit or "")
        except SchemaValidationError as exc:
            raise SchemaValidationError(f"{where}.code", exc.reason) from None


# --- HTTP ---------------------------------------------------------------------------------------

def operation_outcome(issues: list[tuple[str, str, str, str | None]]) -> bytes:
    """An OperationOutcome as FHIR JSON from (severity, code, diagnostics, expression) tuples."""
    model = OperationOutcome(issue=[
        {"severity": severity, "code": code, "diagnostics": text, **({"expression": [where]} if where else {})}
        for severity, code, text, where in issues
    ])
    return model.model_dump_json(exclude_none=True).encode()


def _issue_code(problem: Problem) -> str:
    """The OperationOutcome issue type of a problem."""
    reason, where = problem.reason, problem.field
    if reason.startswith(NOT_JSON):
        return "structure"
    if reason.startswith("transaction"):
        return "processing"
    if where.endswith((".code", ".coding", ".status", "resourceType", "Bundle.type")):
        return "code-invalid"
    if reason.startswith("needs") or "required" in reason.lower() or "no entries" in reason:
        return "required"
    return "invalid"


class FhirServer:
    """``POST /fhir/Observation``, ``POST /fhir`` (Bundle) and ``GET /fhir/metadata`` on aiohttp."""

    def __init__(self, context: AdapterContext, sink: RecordSink, max_body_bytes: int = 8 * 1024 * 1024) -> None:
        self.observations = Ingestor(FhirR4Adapter(context, ("Observation",)), sink, source="fhir-http")
        self.bundles = Ingestor(FhirR4Adapter(context, ("Bundle",)), sink, source="fhir-http")
        self.unsupported_media = 0
        self.store_failures = 0
        self.app = web.Application(client_max_size=max_body_bytes)
        self.app.add_routes([
            web.post("/fhir/Observation", self._post_observation),
            web.post("/fhir", self._post_bundle),
            web.post("/fhir/", self._post_bundle),
            web.get("/fhir/metadata", self._metadata),
        ])
        self._runner: web.AppRunner | None = None
        self._port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    @property
    def port(self) -> int:
        return self._port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def counters(self) -> dict[str, object]:
        a, b = self.observations.counters.as_dict(), self.bundles.counters.as_dict()
        total: dict[str, object] = {k: int(a[k]) + int(b[k]) for k in ("received", "accepted", "duplicates", "dead_lettered")}  # type: ignore[call-overload]
        total["rejected"] = dict(Counter(a["rejected"]) + Counter(b["rejected"]))  # type: ignore[arg-type]
        return {**total, "unsupported_media": self.unsupported_media, "store_failures": self.store_failures}

    @staticmethod
    def _reply(status: int, issues: list[tuple[str, str, str, str | None]]) -> web.Response:
        return web.Response(status=status, body=operation_outcome(issues), content_type=FHIR_JSON)

    async def _post_observation(self, request: web.Request) -> web.Response:
        return await self._ingest(request, self.observations, 201)

    async def _post_bundle(self, request: web.Request) -> web.Response:
        return await self._ingest(request, self.bundles, 200)

    async def _ingest(self, request: web.Request, ingestor: Ingestor, created: int) -> web.Response:
        if request.content_type not in (FHIR_JSON, "application/json"):
            self.unsupported_media += 1
            return self._reply(415, [("error", "not-supported", f"content type {request.content_type[:60]!r} is not supported; send {FHIR_JSON}", None)])
        body = await request.read()
        try:
            outcome: IngestOutcome = await ingestor.ingest(body)
        except Exception as exc:  # the sink failed: the client must send it again
            self.store_failures += 1
            logger.error("could not store a FHIR request (%s: %s)", type(exc).__name__, exc)
            return self._reply(503, [("error", "transient", f"WardWatch could not store the observations ({type(exc).__name__}); send them again", None)])
        accepted = f"accepted {outcome.accepted} observation record(s)" + (f", {outcome.duplicates} already received" if outcome.duplicates else "")
        if outcome.ok:
            return self._reply(created, [("information", "informational", accepted, None)])
        status = 400 if any(p.reason.startswith(NOT_JSON) for p in outcome.problems) else 422
        issues: list[tuple[str, str, str, str | None]] = [
            ("error", _issue_code(p), p.reason, None if p.field == "$" else p.field) for p in outcome.problems
        ]
        if outcome.accepted or outcome.duplicates:
            issues.append(("information", "informational", accepted + "; the rest was rejected (see the errors)", None))
        return self._reply(status, issues)

    async def _metadata(self, request: web.Request) -> web.Response:
        statement = CapabilityStatement.model_validate({
            "resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "format": [FHIR_JSON, "json"],
            "software": {"name": "WardWatch fhir-r4 adapter"},
            "implementation": {"description": "WardWatch: vital-signs Observations into the monitoring stream", "url": str(request.url.origin()) + "/fhir"},
            "rest": [{"mode": "server", "resource": [{"type": "Observation", "interaction": [{"code": "create"}]}],
                      "interaction": [{"code": "batch"}, {"code": "transaction"}]}],
        })
        return web.Response(body=statement.model_dump_json(exclude_none=True).encode(), content_type=FHIR_JSON)


async def start_listener(context: AdapterContext, sink: RecordSink, host: str = "127.0.0.1", port: int = 8080) -> FhirServer:
    """Start the FHIR HTTP server feeding :class:`FhirR4Adapter` through ingestors into ``sink``."""
    server = FhirServer(context, sink)
    await server.start(host, port)
    return server
