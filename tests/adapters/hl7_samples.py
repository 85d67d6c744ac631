"""HL7 v2 ORU^R01 test messages (made up: no real patient), shared by the unit, integration and bench code."""

from __future__ import annotations

import math

#: Every patient identifier and name in these messages: none may reach a record.
IDENTIFIERS = ["MRN-000123", "MRN-000456", "NHS-9990001", "Quarterman", "Zebedee", "Ashworth-Pilkington", "Wilhelmina", "19521103"]

ECG_UV = [round(800 * math.sin(2 * math.pi * 1.2 * i / 250) + 150 * math.sin(2 * math.pi * 7 * i / 250)) for i in range(250)]
PLETH = [round(2000 + 900 * math.sin(2 * math.pi * 1.2 * i / 125)) for i in range(125)]


def message(*segments: str) -> bytes:
    """Segments joined with HL7's segment terminator (CR)."""
    return ("\r".join(segments) + "\r").encode()


def msh(control_id: str, kind: str = "ORU^R01^ORU_R01", when: str = "20260301101500+0100") -> str:
    return f"MSH|^~\\&|MONITOR^ACDE48234567ABCD^EUI-64|ICU-GW|WARDWATCH|HOSP|{when}||{kind}|{control_id}|P|2.6|||NE|AL"


PID_1 = "PID|||MRN-000123^^^HOSP^MR~NHS-9990001^^^NHS^NH||Quarterman^Zebedee^^^^^L||19521103|M"
PID_2 = "PID|1||MRN-000456^^^HOSP^MR||Ashworth-Pilkington^Wilhelmina"

# IHE PCD-01 style: MDC codes and MDC units, a device header OBX, offsets, status R and C.
PCD01_NUMERICS = message(
    msh("MSG-0001"), PID_1, "PV1||I|ICU^12^B",
    "OBR|1|||182777000^monitoring of patient^SNOMED-CT|||20260301101400+0100",
    "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||ACDE48234567ABCD^EUI-64",
    "OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F|||20260301101455+0100||||ACDE48234567ABCD^EUI-64",
    "OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.2|97|262688^MDC_DIM_PERCENT^MDC|||||R|||20260301101455+0100",
    "OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.2.1|121|266016^MDC_DIM_MMHG^MDC|||||F|||20260301101300+0100",
    "OBX|5|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.1.2.2|79|266016^MDC_DIM_MMHG^MDC|||||F|||20260301101300+0100",
    "OBX|6|NM|150364^MDC_TEMP_BODY^MDC|1.1.3.1|98.6|[degF]^[degF]^UCUM|||||C",
)
PCD01_EXPECTED = [
    ("MDC_ECG_HEART_RATE", 72.0, "/min"), ("MDC_PULS_OXIM_SAT_O2", 97.0, "%"), ("MDC_PRESS_BLD_NONINV_SYS", 121.0, "mm[Hg]"),
    ("MDC_PRESS_BLD_NONINV_DIA", 79.0, "mm[Hg]"), ("MDC_TEMP_BODY", 37.0, "Cel"),
]

# A vitals cart: LOINC codes, UCUM units, CRLF line ends, OBR-7 without offset, no point of care.
LOINC_VITALS = "\r\n".join([
    "MSH|^~\\&|VITALS-CART|WARD5|||20260301083000||ORU^R01|C-77|P|2.5.1", PID_2, "PV1|1|I|^^07",
    "OBR|1|||85353-1^Vital signs panel^LN|||20260301082900",
    "OBX|1|NM|8867-4^Heart rate^LN||88|/min|||||F", "OBX|2|NM|9279-1^Respiratory rate^LN||18|{breaths}/min|||||F",
    "OBX|3|NM|59408-5^Oxygen saturation^LN||95|%|||||F", "OBX|4|NM|8310-5^Body temperature^LN||37.4|Cel|||||F",
]).encode() + b"\r\n"
LOINC_EXPECTED = [("MDC_ECG_HEART_RATE", 88.0, "/min"), ("MDC_RESP_RATE", 18.0, "/min"), ("MDC_PULS_OXIM_SAT_O2", 95.0, "%"),
                  ("MDC_TEMP_BODY", 37.4, "Cel")]

# IHE PCD Waveform Content Module: NA with a sub-id sample rate; MA with the sample rate after it.
WAVEFORMS = message(
    msh("W-1", when="20260301101500"), PID_1, "PV1||I|ICU^12^B", "OBR|1|||WAVEFORMS|||20260301101500",
    "OBX|1|NA|131330^MDC_ECG_ELEC_POTL_II^MDC|1.1.1.1001|" + "^".join(map(str, ECG_UV))
    + "|266419^MDC_DIM_MICRO_VOLT^MDC|||||F|||20260301101459.000",
    "OBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.1001.1|250|264608^MDC_DIM_PER_SEC^MDC",
    "OBX|3|NR|0^MDC_ATTR_DATA_RANGE^MDC|1.1.1.1001.2|-5^5|266418^MDC_DIM_MILLI_VOLT^MDC",
    "OBX|4|MA|150452^MDC_PULS_OXIM_PLETH^MDC||" + "~".join(map(str, PLETH)) + "||||||F|||20260301101459",
    "OBX|5|NM|0^MDC_ATTR_SAMP_RATE^MDC||125|Hz",
)
WAVEFORMS_EXPECTED = [("MDC_ECG_ELEC_POTL_II", ECG_UV[0] / 1000, "mV"), ("MDC_PULS_OXIM_PLETH", float(PLETH[0]), "1")]

TWO_PATIENTS = message(
    msh("M-2"), PID_1, "PV1||I|ICU^12^B", "OBX|1|NM|8867-4^^LN||70|/min|||||F|||20260301101500",
    PID_2, "PV1||I|ICU^14^A", "OBX|1|NM|8867-4^^LN||90|/min|||||F|||20260301101500",
)

ADT = message(msh("A-1", "ADT^A01^ADT_A01"), PID_1)
NO_PID = message(msh("N-1"), "OBX|1|NM|8867-4^^LN||70|/min|||||F|||20260301101500")
EMPTY_PID3 = message(msh("N-2"), "PID|||||Quarterman^Zebedee", "OBX|1|NM|8867-4^^LN||70|/min|||||F|||20260301101500")
ALL_BAD_OBX = message(msh("N-3"), PID_1, "OBX|1|NM|99999-9^Nothing^LN||70|/min|||||F|||20260301101500",
                      "OBX|2|NM|8867-4^^LN||70|/min|||||X|||20260301101500", "OBX|3|NM|8867-4^^LN||70|/min|||||F|||2026")
NO_SAMPLE_RATE = message(msh("N-4"), PID_1, "OBX|1|NA|131330^MDC_ECG_ELEC_POTL_II^MDC|1.1.1.1|1^2^3|mV|||||F|||20260301101500")

MALFORMED = [b"", b"garbage", bytes(range(256)), b'{"resourceType": "Observation"}', b"MSH|", b"MSH|^~\\&", ADT, NO_PID,
             EMPTY_PID3, ALL_BAD_OBX, NO_SAMPLE_RATE, PCD01_NUMERICS.replace(b"MSH|", b"MSX|")]
