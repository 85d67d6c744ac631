"""NEWS2 against the RCP 2017 chart: both sides of every band edge, bands, partial scores, windowing."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from wardwatch.errors import SchemaValidationError
from wardwatch.models.news2 import (
    PARAMS,
    Band,
    News2Inputs,
    charted_state,
    news2,
    window_median,
    windowed_inputs,
)
from wardwatch.streams.records import ChartedEvent

T0 = 1_790_000_000_000_000_000
S = 1_000_000_000
PATIENT = "p-0123456789abcdef0123"

#: Every parameter scores 0.
NORMAL = News2Inputs(rr_per_min=16, spo2_pct=97, on_oxygen=False, sbp_mmhg=120, pulse_per_min=70, consciousness="A", temp_c=37.0)


def score_of(param: str, **change: object) -> int | None:
    return news2(dataclasses.replace(NORMAL, **change)).subscores[param]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rr", "expected"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_respiration_rate_bands(rr: float, expected: int) -> None:
    assert score_of("respiration_rate", rr_per_min=rr) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_spo2_scale_1_bands_on_air_and_oxygen(spo2: float, expected: int, on_oxygen: bool) -> None:
    result = news2(dataclasses.replace(NORMAL, spo2_pct=spo2, on_oxygen=on_oxygen))
    assert result.subscores["spo2"] == expected
    assert result.subscores["air_or_oxygen"] == (2 if on_oxygen else 0)


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "expected"),
    [
        (70, False, 3), (83, False, 3), (84, False, 2), (85, False, 2), (86, False, 1), (87, False, 1),
        (88, False, 0), (92, False, 0), (93, False, 0), (94, False, 0), (97, False, 0), (100, False, 0),
        (83, True, 3), (84, True, 2), (85, True, 2), (86, True, 1), (87, True, 1), (88, True, 0),
        (92, True, 0), (93, True, 1), (94, True, 1), (95, True, 2), (96, True, 2), (97, True, 3), (100, True, 3),
    ],
)  # fmt: skip
def test_spo2_scale_2_bands(spo2: float, on_oxygen: bool, expected: int) -> None:
    assert score_of("spo2", spo2_pct=spo2, on_oxygen=on_oxygen, spo2_scale=2) == expected


def test_spo2_scale_2_at_or_above_93_needs_air_or_oxygen() -> None:
    result = news2(dataclasses.replace(NORMAL, spo2_pct=95, on_oxygen=None, spo2_scale=2))
    assert result.subscores["spo2"] is None
    assert result.missing == ("spo2", "air_or_oxygen")
    # below 93 the scale-2 score does not depend on oxygen
    assert score_of("spo2", spo2_pct=85, on_oxygen=None, spo2_scale=2) == 2


@pytest.mark.parametrize(("on_oxygen", "expected"), [(True, 2), (False, 0)])
def test_air_or_oxygen(on_oxygen: bool, expected: int) -> None:
    assert score_of("air_or_oxygen", on_oxygen=on_oxygen) == expected


@pytest.mark.parametrize(
    ("sbp", "expected"),
    [(40, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (300, 3)],
)
def test_systolic_bp_bands(sbp: float, expected: int) -> None:
    assert score_of("systolic_bp", sbp_mmhg=sbp) == expected


@pytest.mark.parametrize(
    ("pulse", "expected"),
    [(0, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3), (250, 3)],
)
def test_pulse_bands(pulse: float, expected: int) -> None:
    assert score_of("pulse", pulse_per_min=pulse) == expected


@pytest.mark.parametrize(("acvpu", "expected"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness(acvpu: str, expected: int) -> None:
    assert score_of("consciousness", consciousness=acvpu) == expected


@pytest.mark.parametrize(
    ("temp", "expected"),
    [(30.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2), (42.0, 2)],
)
def test_temperature_bands(temp: float, expected: int) -> None:
    assert score_of("temperature", temp_c=temp) == expected


@pytest.mark.parametrize(
    ("field", "value", "param", "expected"),
    [
        ("rr_per_min", 8.49, "respiration_rate", 3),
        ("rr_per_min", 8.5, "respiration_rate", 1),  # half up: 9
        ("rr_per_min", 11.5, "respiration_rate", 0),  # 12
        ("rr_per_min", 20.5, "respiration_rate", 2),  # 21
        ("spo2_pct", 91.4, "spo2", 3),
        ("spo2_pct", 91.5, "spo2", 2),  # 92
        ("spo2_pct", 95.5, "spo2", 0),  # 96
        ("sbp_mmhg", 90.5, "systolic_bp", 2),  # 91
        ("sbp_mmhg", 219.5, "systolic_bp", 3),  # 220
        ("pulse_per_min", 90.49, "pulse", 0),
        ("pulse_per_min", 90.5, "pulse", 1),  # 91
        ("temp_c", 35.04, "temperature", 3),  # 35.0
        ("temp_c", 35.05, "temperature", 1),  # 35.1
        ("temp_c", 36.05, "temperature", 0),  # 36.1, although the binary float is 36.04999...
        ("temp_c", 38.05, "temperature", 1),  # 38.1
        ("temp_c", 39.05, "temperature", 2),  # 39.1
        ("temp_c", 39.04, "temperature", 1),  # 39.0
    ],
)
def test_values_between_printed_bands_round_half_up(field: str, value: float, param: str, expected: int) -> None:
    assert score_of(param, **{field: value}) == expected


def test_numpy_floats_round_like_python_floats() -> None:
    assert score_of("temperature", temp_c=np.float64(36.05)) == 0
    assert score_of("respiration_rate", rr_per_min=np.float32(11.5)) == 0


def test_all_normal_scores_zero_with_routine_monitoring() -> None:
    result = news2(NORMAL)
    assert result.total == 0 and result.band is Band.LOW and not result.partial and result.missing == ()
    assert result.response.monitoring == "minimum 12-hourly"
    assert set(result.subscores) == set(PARAMS)


@pytest.mark.parametrize(
    ("change", "total", "band", "response"),
    [
        ({}, 0, Band.LOW, "routine monitoring"),
        ({"pulse_per_min": 95}, 1, Band.LOW, "ward-based response"),
        ({"rr_per_min": 22, "sbp_mmhg": 105, "pulse_per_min": 95}, 4, Band.LOW, "ward-based response"),
        ({"rr_per_min": 22, "sbp_mmhg": 105, "pulse_per_min": 95, "temp_c": 38.5}, 5, Band.MEDIUM, "urgent response"),
        ({"rr_per_min": 22, "sbp_mmhg": 95, "pulse_per_min": 95, "temp_c": 38.5}, 6, Band.MEDIUM, "urgent response"),
        ({"rr_per_min": 22, "sbp_mmhg": 95, "pulse_per_min": 115, "temp_c": 38.5}, 7, Band.HIGH, "emergency response"),
        ({"consciousness": "C"}, 3, Band.LOW_MEDIUM, "urgent ward-based response"),
        ({"temp_c": 34.0, "pulse_per_min": 95}, 4, Band.LOW_MEDIUM, "urgent ward-based response"),
        ({"rr_per_min": 7, "spo2_pct": 95, "pulse_per_min": 95}, 5, Band.MEDIUM, "urgent response"),
        ({"rr_per_min": 30, "spo2_pct": 85, "on_oxygen": True, "sbp_mmhg": 80, "pulse_per_min": 140,
          "consciousness": "U", "temp_c": 34.0}, 20, Band.HIGH, "emergency response"),
    ],
)  # fmt: skip
def test_aggregate_bands(change: dict[str, object], total: int, band: Band, response: str) -> None:
    result = news2(dataclasses.replace(NORMAL, **change))  # type: ignore[arg-type]
    assert (result.total, result.band, result.response.name) == (total, band, response)
    assert result.any_single_3 == any(s == 3 for s in result.subscores.values())


def test_oxygen_alone_is_not_a_single_3() -> None:
    result = news2(dataclasses.replace(NORMAL, on_oxygen=True))
    assert result.total == 2 and not result.any_single_3 and result.band is Band.LOW


def test_missing_parameters_are_explicit_not_zero() -> None:
    result = news2(News2Inputs(rr_per_min=26, pulse_per_min=math.nan, temp_c=37.0))
    assert result.partial
    assert result.missing == ("spo2", "air_or_oxygen", "systolic_bp", "pulse", "consciousness")
    assert result.subscores["pulse"] is None and result.subscores["spo2"] is None
    assert result.subscores["respiration_rate"] == 3 and result.subscores["temperature"] == 0
    assert result.total == 3 and result.band is Band.LOW_MEDIUM
    empty = news2(News2Inputs())
    assert empty.partial and empty.missing == PARAMS and empty.total == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("rr_per_min", -1.0), ("spo2_pct", 101.0), ("temp_c", 98.6), ("sbp_mmhg", math.inf), ("consciousness", "X"), ("spo2_scale", 3)],
)
def test_implausible_inputs_are_rejected_with_the_field(field: str, value: object) -> None:
    with pytest.raises(SchemaValidationError) as info:
        News2Inputs(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == f"$.{field}"


def _event(event: str, value: str, at_s: float) -> ChartedEvent:
    return ChartedEvent(patient_ref=PATIENT, ward="ward-a", bed="01", source="ehr", timestamp_ns=T0 + round(at_s * S), event=event, value=value)  # type: ignore[arg-type]


def test_charted_state_takes_the_latest_event_at_or_before_now() -> None:
    events = [
        _event("supplemental_oxygen", "on", 10),
        _event("consciousness", "A", 0),
        _event("spo2_scale", "2", 5),
        _event("supplemental_oxygen", "off", 50),
        _event("consciousness", "C", 40),
        _event("consciousness", "V", 500),  # after now
        _event("admit", "", 1),
    ]
    state = charted_state(events, T0 + 100 * S)
    assert (state.on_oxygen, state.consciousness, state.spo2_scale) == (False, "C", 2)
    assert state.updated_ns["supplemental_oxygen"] == T0 + 50 * S
    assert charted_state([], T0).spo2_scale == 1 and charted_state([], T0).on_oxygen is None


def _series(values: list[float], *, end_s: float = 0.0, step_s: float = 1.0) -> list[tuple[int, float]]:
    n = len(values)
    return [(T0 + round((end_s - (n - 1 - k) * step_s) * S), v) for k, v in enumerate(values)]


def test_window_median_uses_the_half_open_window() -> None:
    samples = [(T0 - 300 * S, 1000.0), (T0 - 299 * S, 10.0), (T0, 20.0), (T0 + S, 2000.0), (T0 - 5 * S, math.nan)]
    assert window_median(samples, now_ns=T0, window_s=300) == 15.0
    assert math.isnan(window_median([], now_ns=T0, window_s=300))


def test_windowing_uses_medians_so_a_spike_does_not_change_the_score() -> None:
    rr = [16.0] * 299 + [40.0]  # the last sample is a spike; the last-sample score would be 3
    pulse = [70.0] * 150 + [150.0] + [70.0] * 149
    samples = {"MDC_RESP_RATE": _series(rr), "MDC_ECG_HEART_RATE": _series(pulse)}
    inputs = windowed_inputs(samples, now_ns=T0, window_s=300)
    assert inputs.rr_per_min == 16.0 and inputs.pulse_per_min == 70.0
    assert news2(inputs).subscores["respiration_rate"] == 0
    sustained = windowed_inputs({"MDC_RESP_RATE": _series([16.0] * 140 + [26.0] * 160)}, now_ns=T0, window_s=300)
    assert news2(sustained).subscores["respiration_rate"] == 3


def test_windowed_inputs_fall_back_and_read_charted_events() -> None:
    samples = {
        "MDC_PULS_OXIM_PULS_RATE": _series([112.0] * 60),
        "MDC_PRESS_BLD_ART_ABP_SYS": _series([95.0] * 60),
        "MDC_PRESS_BLD_NONINV_SYS": [(T0 - 1800 * S, 150.0)],  # last cuff 30 min ago: outside 5 min
        "MDC_TEMP_BODY": [(T0 - 3000 * S, 38.4)],
        "MDC_PULS_OXIM_SAT_O2": _series([95.0] * 60),
    }
    events = [_event("supplemental_oxygen", "on", -100), _event("consciousness", "A", -100), _event("spo2_scale", "2", -200)]
    inputs = windowed_inputs(samples, now_ns=T0, events=events, window_s_by_signal={"MDC_TEMP_BODY": 3600})
    assert (inputs.pulse_per_min, inputs.sbp_mmhg, inputs.temp_c, inputs.rr_per_min) == (112.0, 95.0, 38.4, None)
    result = news2(inputs)
    assert result.subscores == {
        "respiration_rate": None, "spo2": 2, "air_or_oxygen": 2, "systolic_bp": 2,
        "pulse": 2, "consciousness": 0, "temperature": 1,
    }  # fmt: skip
    assert result.partial and result.missing == ("respiration_rate",) and result.total == 9
    cuff = windowed_inputs(samples, now_ns=T0, window_s_by_signal={"MDC_PRESS_BLD_NONINV_SYS": 3600})
    assert cuff.sbp_mmhg == 150.0  # the cuff wins over the arterial line when it has a value
