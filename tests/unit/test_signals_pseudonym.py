from __future__ import annotations

import pytest

from wardwatch.errors import UnknownSignalError
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.signals import SIGNALS, VITAL_SIGNS, lookup


@pytest.mark.parametrize(
    ("alias", "code"),
    [
        ("MDC_ECG_HEART_RATE", "MDC_ECG_HEART_RATE"),
        ("147842", "MDC_ECG_HEART_RATE"),
        ("8867-4", "MDC_ECG_HEART_RATE"),
        ("59408-5", "MDC_PULS_OXIM_SAT_O2"),
        ("2708-6", "MDC_PULS_OXIM_SAT_O2"),
        ("9279-1", "MDC_RESP_RATE"),
        ("8480-6", "MDC_PRESS_BLD_NONINV_SYS"),
        ("8462-4", "MDC_PRESS_BLD_NONINV_DIA"),
        ("8310-5", "MDC_TEMP_BODY"),
        ("150456", "MDC_PULS_OXIM_SAT_O2"),
        ("131330", "MDC_ECG_ELEC_POTL_II"),
    ],
)
def test_lookup_by_any_alias(alias: str, code: str) -> None:
    assert lookup(alias).code == code


def test_unknown_code() -> None:
    with pytest.raises(UnknownSignalError, match="unknown signal code 'XYZ'"):
        lookup("XYZ")


def test_table_is_consistent() -> None:
    aliases: dict[str, str] = {}
    for spec in SIGNALS.values():
        assert spec.low < spec.high and spec.unit
        for alias in (spec.code, str(spec.mdc_code), *spec.loinc):
            if alias != "None":
                assert aliases.setdefault(alias, spec.code) == spec.code, f"{alias} maps to two signals"
        if spec.mdc_code is not None:
            assert 131072 <= spec.mdc_code < 196608  # MDC partition 2 (SCADA)
    assert set(VITAL_SIGNS) <= set(SIGNALS)


def test_pseudonym_is_keyed_stable_and_opaque(secret: bytes) -> None:
    a = pseudonymize("MRN-000123", secret)
    assert a == pseudonymize(" mrn-000123 ", secret)  # normalized
    assert a != pseudonymize("MRN-000124", secret)
    assert a != pseudonymize("MRN-000123", b"another-secret-of-32-bytes-xxxxx")
    assert a.startswith("p-") and len(a) == 22 and "000123" not in a
    with pytest.raises(ValueError):
        pseudonymize("MRN-1", b"short")
