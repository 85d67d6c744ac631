"""The WFDB replay adapter (a replay request → the records of a slice of a real record): conformance.

Reads the real recordings under ../shared/data (WARDWATCH_DATA_DIR); fails, does not skip, without them.
"""

from __future__ import annotations

import json

import wfdb

from wardwatch.streams.adapters.registry import get_adapter_class
from wardwatch.streams.adapters.wfdb_replay import WfdbReplayAdapter, data_dir

from .conformance import CONFORMANCE_NOW_NS, AdapterConformance, Sample

WAVE = "challenge2015/a104s"
NUMERICS = "mimic-mitdb/s00001-2896-10-10-00-31n"


def _wave_expected(seconds: int) -> list[tuple[str, float, str]]:
    rec = wfdb.rdrecord(str(data_dir() / WAVE), sampto=seconds * 250)
    signals = {"II": ("MDC_ECG_ELEC_POTL_II", "mV"), "V": ("MDC_ECG_ELEC_POTL_V", "mV"), "PLETH": ("MDC_PULS_OXIM_PLETH", "1")}
    return [(signals[name][0], float(rec.p_signal[s * 250, i]), signals[name][1])
            for s in range(seconds) for i, name in enumerate(rec.sig_name)]


# Minutes 100-102 of the MIMIC-II numerics (read with wfdb: HR, PULSE, RESP, SpO2; ABP is 0 =
# not measured; the cuff measured once, at minute 102).
NUMERIC_EXPECTED = [
    ("MDC_ECG_HEART_RATE", 55.0, "/min"), ("MDC_PULS_OXIM_PULS_RATE", 54.4, "/min"), ("MDC_RESP_RATE", 8.9, "/min"),
    ("MDC_PULS_OXIM_SAT_O2", 99.4, "%"),
    ("MDC_ECG_HEART_RATE", 55.7, "/min"), ("MDC_PULS_OXIM_PULS_RATE", 55.0, "/min"), ("MDC_RESP_RATE", 8.0, "/min"),
    ("MDC_PULS_OXIM_SAT_O2", 99.5, "%"),
    ("MDC_ECG_HEART_RATE", 55.2, "/min"), ("MDC_PULS_OXIM_PULS_RATE", 54.1, "/min"), ("MDC_RESP_RATE", 9.9, "/min"),
    ("MDC_PULS_OXIM_SAT_O2", 98.2, "%"), ("MDC_PRESS_BLD_NONINV_SYS", 139.0, "mm[Hg]"), ("MDC_PRESS_BLD_NONINV_DIA", 61.0, "mm[Hg]"),
    ("MDC_PRESS_BLD_NONINV_MEAN", 86.0, "mm[Hg]"),
]


def _request(**fields: object) -> bytes:
    return json.dumps(fields).encode()


class TestWfdbReplayConformance(AdapterConformance):
    adapter_class = WfdbReplayAdapter
    valid_samples = [
        Sample(_request(record=WAVE, start_ns=CONFORMANCE_NOW_NS, duration_s=2), _wave_expected(2), "2 s of ECG II, V, PLETH"),
        Sample(_request(record=NUMERICS, from_s=6000, duration_s=180, bed="12"), NUMERIC_EXPECTED, "3 minutes of MIMIC-II numerics"),
    ]
    malformed_samples = [
        b"",
        b"{}",
        _request(record="no-such-folder/x123"),
        _request(record="../../../etc/passwd"),
        _request(record=WAVE, from_s=9999),
        _request(record=WAVE, duration_s=3600),  # more samples than a request may ask for
        _request(record=WAVE, channels=["aVL-nope"]),
        _request(record=WAVE, start_ns=1_790_000_000),  # seconds, not ns
        _request(record=WAVE, speed=2),
    ]
    identifiers = ["a104s", "s00001-2896-10-10-00-31n"]
    fuzz_separators = (b",", b":", b"/")


def test_registered() -> None:
    assert get_adapter_class("wfdb-replay") is WfdbReplayAdapter
