"""The HL7 v2 ORU^R01 adapter: conformance, field mapping, ACKs, and the MLLP listener on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import hl7
import hl7.mllp
import numpy as np
import pytest

from wardwatch.streams.adapters.base import AdapterContext
from wardwatch.streams.adapters.hl7_mllp import Hl7OruAdapter, MllpListener, build_ack, hl7_time_ns
from wardwatch.streams.adapters.ingest import Ingestor
from wardwatch.streams.deadletter import DeadLetter
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import NumericObservation, Record, WaveformChunk

from . import hl7_samples as S
from wardwatch.streams.sealing import unseal

from .conformance import CONFORMANCE_SECRET, AdapterConformance, MemorySink, Sample

REF_1 = pseudonymize("MRN-000123", CONFORMANCE_SECRET)
REF_2 = pseudonymize("MRN-000456", CONFORMANCE_SECRET)
T_1015 = 1_772_360_100_000_000_000  # 2026-03-01T10:15:00Z


def _hr(ref: str, bed: str, value: float) -> NumericObservation:
    return NumericObservation(patient_ref=ref, ward="ICU", bed=bed, device_id="MONITOR", signal="MDC_ECG_HEART_RATE",
                              unit="/min", timestamp_ns=T_1015, value=value)


class TestHl7OruConformance(AdapterConformance):
    adapter_class = Hl7OruAdapter
    valid_samples = [
        Sample(S.PCD01_NUMERICS, S.PCD01_EXPECTED, "IHE PCD-01 numerics, MDC codes and units"),
        Sample(S.LOINC_VITALS, S.LOINC_EXPECTED, "LOINC vitals cart, CRLF"),
        Sample(S.WAVEFORMS, S.WAVEFORMS_EXPECTED, "WCM waveforms NA + MA"),
        Sample(S.TWO_PATIENTS, [_hr(REF_1, "12-B", 70.0), _hr(REF_2, "14-A", 90.0)], "two patients in one message"),
    ]
    malformed_samples = S.MALFORMED
    identifiers = S.IDENTIFIERS
    fuzz_separators = (b"\r", b"|", b"^", b"~")


def _adapter(ward: str = "ward-x") -> Hl7OruAdapter:
    return Hl7OruAdapter(AdapterContext(secret=CONFORMANCE_SECRET, ward=ward))


# --- field mapping ------------------------------------------------------------------------------

def test_pcd01_fields_map_to_the_record() -> None:
    records = _adapter().parse(S.PCD01_NUMERICS).records
    hr, spo2, sys_, dia, temp = records
    assert hr.patient_ref == REF_1 and (hr.ward, hr.bed) == ("ICU", "12-B")
    assert hr.device_id == "ACDE48234567ABCD"  # OBX-18
    assert spo2.device_id == "MONITOR"  # no OBX-18: MSH-3
    assert hr.timestamp_ns == hl7_time_ns("20260301091455")  # OBX-14 at +0100
    assert sys_.timestamp_ns == hl7_time_ns("20260301091300")
    assert temp.timestamp_ns == hl7_time_ns("20260301091400")  # no OBX-14: OBR-7
    assert temp.value == 37.0  # 98.6 [degF]


def test_no_point_of_care_falls_back_to_the_context_ward() -> None:
    records = _adapter("ward-9").parse(S.LOINC_VITALS).records
    assert {(r.ward, r.bed) for r in records} == {("ward-9", "07")}
    assert {r.timestamp_ns for r in records} == {hl7_time_ns("20260301082900")}  # no offset: UTC


def test_waveforms_keep_every_sample_in_canonical_units() -> None:
    ecg, pleth = _adapter().parse(S.WAVEFORMS).records
    assert isinstance(ecg, WaveformChunk) and isinstance(pleth, WaveformChunk)
    assert (ecg.signal, ecg.unit, ecg.fs_hz, ecg.n_samples) == ("MDC_ECG_ELEC_POTL_II", "mV", 250.0, 250)
    np.testing.assert_allclose(ecg.values(), np.array(S.ECG_UV) / 1000, rtol=1e-6)
    assert ecg.start_ns == hl7_time_ns("20260301101459")
    assert (pleth.fs_hz, pleth.n_samples, pleth.unit) == (125.0, 125, "1")
    np.testing.assert_allclose(pleth.values(), S.PLETH)


def test_one_bad_obx_is_a_problem_and_the_others_go_through() -> None:
    bad = b"OBX|7|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|mm[Hg]|||||F|||20260301101455\r"
    result = _adapter().parse(S.PCD01_NUMERICS + bad)
    assert [(r.signal, r.value) for r in result.records] == [(s, v) for s, v, _ in S.PCD01_EXPECTED]
    assert [p.field for p in result.problems] == ["OBX[7]-6"]
    assert "carried in '%'" in result.problems[0].reason


@pytest.mark.parametrize("status, words", [("X", "cannot be obtained"), ("D", "deletes"), ("W", "wrong"), ("", "missing")])
def test_unusable_result_status_is_rejected_with_its_meaning(status: str, words: str) -> None:
    payload = S.message(S.msh("S-1"), S.PID_1, f"OBX|1|NM|8867-4^^LN||70|/min|||||{status}|||20260301101500")
    problem, = _adapter().parse(payload).problems
    assert problem.field == "OBX[1]-11" and words in problem.reason


@pytest.mark.parametrize("value, offset_s", [("20260301101500", 0), ("20260301111500+0100", 0), ("20260301094500-0030", 0),
                                             ("202603011015", 0), ("20260301101500.25", 0.25)])
def test_hl7_times_become_utc_epoch_ns(value: str, offset_s: float) -> None:
    assert hl7_time_ns(value) == T_1015 + round(offset_s * 1e9)


@pytest.mark.parametrize("value", ["2026", "20260301", "2026030110", "20261301101500", "20260301101500+01", "2026-03-01T10:15", "20260301101500Z"])
def test_hl7_time_needs_minute_precision_and_a_valid_date(value: str) -> None:
    with pytest.raises(ValueError):
        hl7_time_ns(value)


# --- acknowledgements ------------------------------------------------------------------------------

def _ingest(payloads: Sequence[bytes]) -> tuple[list[hl7.Message], MemorySink]:
    sink = MemorySink()
    ingestor = Ingestor(_adapter(), sink, source="test")

    async def run() -> list[hl7.Message]:
        return [build_ack(p, await ingestor.ingest(p)) for p in payloads]

    return asyncio.run(run()), sink


def _msa(ack: hl7.Message) -> tuple[str, str, str]:
    parsed = hl7.parse(str(ack))  # the ACK is itself valid HL7
    msa = parsed.segment("MSA")
    return str(msa(1)), str(msa(2)), parsed.unescape(str(msa(3))) if len(msa) > 3 else ""


def test_acks_say_aa_ae_or_ar() -> None:
    partial = S.PCD01_NUMERICS.replace(b"MSG-0001", b"MSG-0002") + b"OBX|7|NM|99999-9^^LN||1|/min|||||F\r"
    acks, sink = _ingest([S.PCD01_NUMERICS, partial, S.ADT, b"garbage", S.NO_PID])
    codes = [_msa(a) for a in acks]
    assert codes[0] == ("AA", "MSG-0001", "")
    assert codes[1][:2] == ("AE", "MSG-0002") and "99999-9" in codes[1][2]
    assert codes[2][:2] == ("AR", "A-1") and "not ORU^R01" in codes[2][2]
    assert codes[3][0] == "AR" and "MSH" in codes[3][2]
    assert codes[4][:2] == ("AE", "N-1")
    assert [unseal(p, CONFORMANCE_SECRET) for p, _, _ in sink.letters] == [partial, S.ADT, b"garbage", S.NO_PID]


def test_error_segments_locate_each_problem() -> None:
    acks, _ = _ingest([S.ALL_BAD_OBX])
    parsed = hl7.parse(str(acks[0]))
    errs = parsed.segments("ERR")
    assert [str(e(2)) for e in errs] == ["OBX^1^3", "OBX^2^11", "OBX^3^14"]
    assert [str(e(3)(1)(1)) for e in errs] == ["103", "103", "102"]
    assert all(str(e(4)) == "E" for e in errs)
    assert "not a signal WardWatch knows" in parsed.unescape(str(errs[0](8)))
    assert str(parsed.segment("MSH")(9)) == "ACK^R01^ACK"


def test_ack_text_is_escaped() -> None:
    payload = S.message(S.msh("E-1"), S.PID_1, "OBX|1|NM|12345-6^odd\\S\\name^LN||1|/min|||||F|||20260301101500")
    acks, _ = _ingest([payload])
    text = str(acks[0])
    assert text.count("\r") == 3  # MSH, MSA, ERR: nothing in the reason broke the structure
    assert "odd^name" in hl7.parse(text).unescape(str(hl7.parse(text).segment("ERR")(8)))


# --- the MLLP listener ------------------------------------------------------------------------------

class _FailingSink(MemorySink):
    async def send_records(self, records: Sequence[Record]) -> None:
        raise ConnectionError("broker gone")


async def _exchange(port: int, blocks: Sequence[bytes], raw: bool = False) -> list[tuple[str, str]]:
    reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", port)
    answers = []
    try:
        for block in blocks:
            if raw:
                writer.write(block)
            else:
                writer.writeblock(block)
            await writer.drain()
            ack = await asyncio.wait_for(reader.readmessage(), 10)
            answers.append((str(ack.segment("MSA")(1)), str(ack.segment("MSA")(2))))
    finally:
        writer.close()
        await writer.wait_closed()
    return answers


def test_listener_answers_every_message_and_keeps_going() -> None:
    sink = MemorySink()

    async def run() -> None:
        listener = MllpListener(Ingestor(_adapter(), sink, source="test"))
        await listener.start("127.0.0.1", 0)
        try:
            partial = S.PCD01_NUMERICS.replace(b"MSG-0001", b"MSG-0009") + b"OBX|7|NM|99999-9^^LN||1|/min|||||F\r"
            answers = await _exchange(listener.port, [S.PCD01_NUMERICS, partial, b"\x00garbage\xff", S.ADT, S.WAVEFORMS])
            assert answers == [("AA", "MSG-0001"), ("AE", "MSG-0009"), ("AR", ""), ("AR", "A-1"), ("AA", "W-1")]
            assert await _exchange(listener.port, [b"no start block\x1c\r"], raw=True) == [("AR", "")]  # framing error
            # a peer that hangs up mid-frame ends only its own connection
            _, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", listener.port)
            writer.write(b"\x0bMSH|^~\\&|half a mess")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            assert await _exchange(listener.port, [S.PCD01_NUMERICS, S.LOINC_VITALS]) == [("AA", "MSG-0001"), ("AA", "C-77")]
            counters = listener.counters()
            assert counters["received"] == 7 and counters["dead_lettered"] == 3 and counters["framing_errors"] == 2
            assert counters["duplicates"] == 10  # the five PCD-01 records came three times (once inside `partial`)
        finally:
            await listener.close()

    asyncio.run(run())
    assert len([r for r in sink.records if isinstance(r, NumericObservation)]) == 5 + 4
    assert len([r for r in sink.records if isinstance(r, WaveformChunk)]) == 2
    assert [unseal(p, CONFORMANCE_SECRET) for p, _, _ in sink.letters][1:] == [b"\x00garbage\xff", S.ADT]


def test_listener_says_ar_when_records_cannot_be_stored_and_survives() -> None:
    async def run() -> None:
        listener = MllpListener(Ingestor(_adapter(), _FailingSink(), source="test"))
        await listener.start("127.0.0.1", 0)
        try:
            reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", listener.port)
            writer.writeblock(S.PCD01_NUMERICS)
            await writer.drain()
            ack = await asyncio.wait_for(reader.readmessage(), 10)
            writer.close()
            assert str(ack.segment("MSA")(1)) == "AR" and str(ack.segment("ERR")(3)(1)(1)) == "207"
            assert listener.counters()["store_failures"] == 1
            assert await _exchange(listener.port, [S.ADT]) == [("AR", "A-1")]  # still answering
        finally:
            await listener.close()

    asyncio.run(run())


def test_dead_letters_carry_no_identifier_in_headers() -> None:
    _, sink = _ingest([S.ALL_BAD_OBX, S.EMPTY_PID3, S.ADT])
    for _, key, letter in sink.letters:
        assert key is None
        assert isinstance(letter, DeadLetter) and letter.stage == "adapter:hl7-oru"
        for word in S.IDENTIFIERS:
            assert word.lower() not in letter.reason.lower()
