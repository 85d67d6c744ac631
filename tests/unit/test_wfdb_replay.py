"""WFDB replay as a pure source: exact samples, chunk timing, NaN handling, numerics, start times.

Reads the real recordings under ../shared/data (WARDWATCH_DATA_DIR); fails, does not skip, without them.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import numpy as np
import pytest
import wfdb

from wardwatch.errors import ConfigurationError, SchemaValidationError
from wardwatch.streams.adapters.wfdb_replay import WfdbReplay, data_dir, resolve_record, resolve_start
from wardwatch.streams.codec import decode, encode
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import NumericObservation, WaveformChunk

T0 = 1_790_000_000_000_000_000
SECRET = b"test-pseudonym-secret-0123456789"


def _open(record: str, **kw: object) -> WfdbReplay:
    return WfdbReplay.open(record, patient_secret=SECRET, start_ns=T0, **kw)  # type: ignore[arg-type]


def test_data_folder_is_there() -> None:
    assert (data_dir() / "challenge2015" / "RECORDS").is_file(), "the shared recordings are missing: see README (../shared/data)"


def test_missing_data_folder_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WARDWATCH_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="WARDWATCH_DATA_DIR"):
        data_dir()


def test_waveform_chunks_carry_the_exact_digital_samples() -> None:
    src = _open("challenge2015/a104s", from_s=10, duration_s=5)
    digital = wfdb.rdrecord(str(data_dir() / "challenge2015/a104s"), sampfrom=2500, sampto=3750, physical=False)
    physical = wfdb.rdrecord(str(data_dir() / "challenge2015/a104s"), sampfrom=2500, sampto=3750)
    batches = list(src.batches())
    assert [round(offset, 9) for offset, _ in batches] == [0.0, 1.0, 2.0, 3.0, 4.0]
    by_signal: dict[str, list[WaveformChunk]] = {}
    for _, chunks in batches:
        for c in chunks:
            assert isinstance(c, WaveformChunk) and decode(encode(c)) == c
            by_signal.setdefault(c.signal, []).append(c)
    assert list(by_signal) == ["MDC_ECG_ELEC_POTL_II", "MDC_ECG_ELEC_POTL_V", "MDC_PULS_OXIM_PLETH"]
    for i, chunks in enumerate(by_signal.values()):
        raw = np.concatenate([np.frombuffer(c.samples, "<i2") for c in chunks])
        np.testing.assert_array_equal(raw, digital.d_signal[:, i])  # bit-exact
        np.testing.assert_allclose(np.concatenate([c.values() for c in chunks]), physical.p_signal[:, i], rtol=1e-6, atol=1e-6)
        assert [c.start_ns for c in chunks] == [T0 + (10 + k) * 1_000_000_000 for k in range(5)]
        assert all(c.fs_hz == 250.0 and c.n_samples == 250 and c.gain == digital.adc_gain[i] for c in chunks)
    assert by_signal["MDC_PULS_OXIM_PLETH"][0].unit == "1" and by_signal["MDC_ECG_ELEC_POTL_II"][0].unit == "mV"


def test_baseline_and_212_format_are_kept() -> None:
    src = _open("mimic-mitdb/03700181", duration_s=2)
    first = next(src.batches())[1]
    assert [c.signal for c in first] == ["MDC_ECG_ELEC_POTL_V", "MDC_PRESS_BLD_ART_ABP", "MDC_IMPED_TTHOR"]  # MCL1, ABP, RESP
    p = wfdb.rdrecord(str(data_dir() / "mimic-mitdb/03700181"), sampto=125).p_signal
    abp = first[1]
    assert (abp.gain, abp.offset, abp.unit) == (12.84, -1605.0, "mm[Hg]")
    np.testing.assert_allclose(abp.values(), p[:, 1], rtol=1e-5)


def test_non_integer_rate_chunks_cover_every_sample_once() -> None:
    src = _open("mimic-mitdb/100", duration_s=3)  # 360 Hz
    chunks = [c for _, b in src.batches() for c in b if c.signal == "MDC_ECG_ELEC_POTL_II"]
    assert [c.n_samples for c in chunks] == [360, 360, 360]
    assert chunks[1].start_ns == T0 + 1_000_000_000


def test_nan_samples_keep_timing_and_are_flagged() -> None:
    # a152s: lead II has 9,896 invalid (NaN) samples
    src = _open("challenge2015/a152s")
    ii = [c for _, b in src.batches() for c in b if c.signal == "MDC_ECG_ELEC_POTL_II"]
    assert len(ii) == 300  # one chunk per second, none skipped
    flagged = [c for c in ii if c.quality]
    assert flagged and all(c.quality == ("lead_off",) and c.dtype == "float32" for c in flagged)
    nan = sum(int(np.isnan(c.values()).sum()) for c in flagged)
    assert nan == int(np.isnan(wfdb.rdrecord(str(data_dir() / "challenge2015/a152s"), channel_names=["II"]).p_signal).sum())
    clean = [c for c in ii if not c.quality]
    assert clean and all(c.dtype == "int16" for c in clean)


def test_numerics_map_units_skip_nan_and_zero() -> None:
    src = _open("mimic-mitdb/s00001-2896-10-10-00-31n")
    assert src.kind == "numeric" and src.skipped_channels == {}
    batches = list(src.batches())
    assert len(batches) == 1936
    offset, rows = batches[102]
    assert offset == pytest.approx(102 * 60.0)
    got = {r.signal: r.value for r in rows}
    assert got == {"MDC_ECG_HEART_RATE": 55.2, "MDC_PULS_OXIM_PULS_RATE": 54.1, "MDC_RESP_RATE": 9.9, "MDC_PULS_OXIM_SAT_O2": 98.2,
                   "MDC_PRESS_BLD_NONINV_SYS": 139.0, "MDC_PRESS_BLD_NONINV_DIA": 61.0, "MDC_PRESS_BLD_NONINV_MEAN": 86.0}
    assert all(isinstance(r, NumericObservation) and r.timestamp_ns == T0 + 102 * 60_000_000_000 for r in rows)
    counts = Counter(r.signal for _, b in batches for r in b)  # type: ignore[union-attr]
    assert counts["MDC_PRESS_BLD_NONINV_SYS"] == 1936 - 1784  # NaN rows skipped
    assert counts["MDC_PRESS_BLD_ART_ABP_SYS"] == 1936 - 1929  # zeros ("not measured") skipped
    assert counts["MDC_ECG_HEART_RATE"] == 1936 - 46
    kept = _open("mimic-mitdb/s00001-2896-10-10-00-31n", zero_is_missing=False, duration_s=60 * 5)
    assert sum(len(b) for _, b in kept.batches()) > sum(len(b) for _, b in batches[:5])


def test_record_name_is_the_pseudonymized_patient() -> None:
    src = _open("challenge2015/a104s", duration_s=1, bed="07", device_id="replay-3")
    chunk = next(src.batches())[1][0]
    assert chunk.patient_ref == pseudonymize("a104s", SECRET)
    assert (chunk.bed, chunk.device_id) == ("07", "replay-3")
    assert "a104s" not in encode(chunk).decode("latin-1").lower()


def test_unknown_channels_are_reported_and_skipped() -> None:
    # find a challenge record with an aVL channel, which has no canonical signal
    folder = data_dir() / "challenge2015"
    name = next(p.stem for p in sorted(folder.glob("*.hea")) if "aVL" in wfdb.rdheader(str(p.with_suffix(""))).sig_name)
    src = _open(f"challenge2015/{name}", duration_s=1)
    assert "aVL" in src.skipped_channels
    assert "MDC_ECG_ELEC_POTL_AVL" not in {c.signal for c in next(src.batches())[1]}


def test_record_paths() -> None:
    assert resolve_record("challenge2015/a104s").name == "a104s"
    assert resolve_record(str(data_dir() / "challenge2015" / "a104s.hea")).name == "a104s"
    with pytest.raises(SchemaValidationError):
        resolve_record("../../etc/passwd", data_dir())


def test_start_times() -> None:
    assert resolve_start(None, None, T0) == T0
    assert resolve_start("now", None, T0) == T0
    assert resolve_start("2026-09-21T10:00:00Z", None, 0) == 1_789_984_800_000_000_000
    assert resolve_start(str(T0), None, 0) == T0
    assert resolve_start("record", datetime(2024, 3, 1, 12, 0), 0) == 1_709_294_400_000_000_000
    with pytest.raises(ConfigurationError, match="outside 2000-2100"):
        resolve_start("record", datetime(2896, 10, 10), 0)  # MIMIC shifts dates for privacy
    with pytest.raises(ConfigurationError, match="no base date"):
        resolve_start("record", None, 0)
    with pytest.raises(ConfigurationError):
        resolve_start("yesterday", None, 0)


def test_slice_outside_the_record_is_refused() -> None:
    with pytest.raises(SchemaValidationError):
        _open("challenge2015/a104s", from_s=301)
    assert math.isclose(_open("challenge2015/a104s", from_s=299).record.d_signal.shape[0] / 250, 1.0)
