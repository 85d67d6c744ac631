"""NEWS2, the National Early Warning Score 2, exactly as the Royal College of Physicians' 2017 charts.

Source: Royal College of Physicians. *National Early Warning Score (NEWS) 2: Standardising the
assessment of acute-illness severity in the NHS.* Updated report of a working party. London: RCP,
2017 (ISBN 978-1-86016-682-2). Chart 1 ("The NEWS scoring system") gives the parameter bands,
Chart 2 ("NEWS thresholds and triggers") the clinical-risk bands and Chart 4 ("Clinical response
to the NEWS trigger thresholds") the monitoring frequency and response. The bands below were
checked against a copy of Chart 1 and Chart 4 (both "© Royal College of Physicians 2017").

============================  =====  =======  =======  ========  =======  =======  =====
parameter                       3       2        1        0         1        2       3
============================  =====  =======  =======  ========  =======  =======  =====
respiration rate (/min)        ≤8             9–11     12–20              21–24    ≥25
SpO2 scale 1 (%)               ≤91    92–93    94–95    ≥96
SpO2 scale 2 (%)               ≤83    84–85    86–87    88–92,    93–94    95–96    ≥97
                                                        ≥93 air   on O2    on O2    on O2
air or oxygen                         oxygen            air
systolic BP (mmHg)             ≤90    91–100   101–110  111–219                     ≥220
pulse (/min)                   ≤40             41–50    51–90     91–110   111–130  ≥131
consciousness                                           A                           C,V,P,U
temperature (°C)               ≤35.0           35.1–36  36.1–38   38.1–39  ≥39.1
============================  =====  =======  =======  ========  =======  =======  =====

**Values between printed bands.** The chart prints integer bands (temperature: one decimal). A
measured value is first rounded *half up* to the chart's resolution (integers; 0.1 °C for
temperature), using its shortest decimal representation so that ``36.05`` rounds to 36.1 and not
to 36.0 through binary floating point, and then banded: RR 11.5 → 12 → 0; SpO2 95.5 → 96 → 0;
SpO2 91.4 → 91 → 3; temperature 36.05 → 36.1 → 0, 35.04 → 35.0 → 3. This is what a bedside
monitor's integer display and a nurse's chart entry do.

**Missing parameters are explicit.** A parameter that is ``None`` or NaN has sub-score ``None``,
is listed in :attr:`News2Result.missing`, and the result is ``partial``; the total is the sum over
what is present (a lower bound of the full score), never a silent 0 for the missing one. On SpO2
scale 2, a saturation of 93 % or more cannot be scored without knowing air or oxygen.

**SpO2 scale.** Scale 1 unless a clinician has charted scale 2 (``spo2_scale`` event "2").

>>> result = news2(News2Inputs(rr_per_min=22, spo2_pct=95, on_oxygen=False, sbp_mmhg=105,
...     pulse_per_min=95, consciousness="A", temp_c=38.2))
>>> result.total, result.band.value, result.partial
(6, 'medium', False)
>>> news2(News2Inputs(rr_per_min=18, temp_c=34.9)).missing
('spo2', 'air_or_oxygen', 'systolic_bp', 'pulse', 'consciousness')
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Literal

from wardwatch.errors import SchemaValidationError
from wardwatch.streams.records import ChartedEvent
from wardwatch.streams.signals import lookup

__all__ = [
    "Param",
    "PARAMS",
    "Band",
    "ClinicalResponse",
    "News2Inputs",
    "News2Result",
    "ChartedState",
    "news2",
    "charted_state",
    "window_median",
    "windowed_inputs",
    "DEFAULT_WINDOW_S",
    "SOURCES",
]

logger = logging.getLogger(__name__)

Param = Literal["respiration_rate", "spo2", "air_or_oxygen", "systolic_bp", "pulse", "consciousness", "temperature"]
#: The seven NEWS2 parameters in chart order.
PARAMS: tuple[Param, ...] = ("respiration_rate", "spo2", "air_or_oxygen", "systolic_bp", "pulse", "consciousness", "temperature")
Acvpu = Literal["A", "C", "V", "P", "U"]

#: Default window (seconds) over which :func:`windowed_inputs` takes each signal's median.
DEFAULT_WINDOW_S = 300.0


class Band(str, Enum):
    """Clinical risk (Chart 2): aggregate 0–4 low; a 3 in any one parameter low–medium; 5–6 medium; ≥7 high."""

    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class ClinicalResponse:
    """One row of Chart 4: the response's name, the minimum monitoring frequency and the action."""

    name: str
    monitoring: str
    action: str


_ROUTINE = ClinicalResponse("routine monitoring", "minimum 12-hourly", "continue routine NEWS monitoring")
_WARD = ClinicalResponse(
    "ward-based response",
    "minimum 4-6-hourly",
    "inform the registered nurse, who must assess the patient and decide whether more frequent monitoring or escalation of care is required",
)
_URGENT_WARD = ClinicalResponse(
    "urgent ward-based response",
    "minimum 1-hourly",
    "registered nurse to inform the medical team caring for the patient, who will review and decide whether escalation of care is necessary",
)
_URGENT = ClinicalResponse(
    "urgent response",
    "minimum 1-hourly",
    "registered nurse to immediately inform the medical team and request urgent assessment by a clinician or team "
    "with core competencies in the care of acutely ill patients; care in an environment with monitoring facilities",
)
_EMERGENCY = ClinicalResponse(
    "emergency response",
    "continuous monitoring of vital signs",
    "registered nurse to immediately inform the medical team (at least specialist registrar level); emergency assessment "
    "by a team with critical-care competencies including advanced airway management; consider transfer to level 2 or 3 care",
)


@dataclass(frozen=True, slots=True)
class News2Inputs:
    """Windowed inputs of one NEWS2 evaluation; ``None`` (or NaN for numbers) means missing.

    Parameters
    ----------
    rr_per_min : respiration rate, breaths per minute.
    spo2_pct : oxygen saturation, %.
    on_oxygen : supplemental oxygen (``True``) or air (``False``).
    sbp_mmhg : systolic blood pressure, mmHg.
    pulse_per_min : pulse, beats per minute.
    consciousness : ACVPU letter; ``"C"`` is *new* confusion.
    temp_c : body temperature, °C.
    spo2_scale : 1, or 2 when a clinician has prescribed the hypercapnic scale.
    """

    rr_per_min: float | None = None
    spo2_pct: float | None = None
    on_oxygen: bool | None = None
    sbp_mmhg: float | None = None
    pulse_per_min: float | None = None
    consciousness: Acvpu | None = None
    temp_c: float | None = None
    spo2_scale: Literal[1, 2] = 1

    def __post_init__(self) -> None:
        for name, signal in _NUMERIC_FIELDS.items():
            value = getattr(self, name)
            if value is None or math.isnan(value):
                continue
            if not math.isfinite(value):
                raise SchemaValidationError(f"$.{name}", f"{value} is not a finite number")
            spec = lookup(signal)
            if not spec.plausible(value):
                raise SchemaValidationError(f"$.{name}", f"{value} is outside the plausible range {spec.low:g}-{spec.high:g} {spec.unit}")
        if self.consciousness is not None and self.consciousness not in ("A", "C", "V", "P", "U"):
            raise SchemaValidationError("$.consciousness", f"{self.consciousness!r} is not one of A, C, V, P, U")
        if self.spo2_scale not in (1, 2):
            raise SchemaValidationError("$.spo2_scale", f"{self.spo2_scale!r} is not 1 or 2")


_NUMERIC_FIELDS: dict[str, str] = {
    "rr_per_min": "MDC_RESP_RATE",
    "spo2_pct": "MDC_PULS_OXIM_SAT_O2",
    "sbp_mmhg": "MDC_PRESS_BLD_NONINV_SYS",
    "pulse_per_min": "MDC_ECG_HEART_RATE",
    "temp_c": "MDC_TEMP_BODY",
}


@dataclass(frozen=True, slots=True)
class News2Result:
    """One NEWS2 evaluation.

    Attributes
    ----------
    total : sum of the sub-scores that are present (a lower bound when ``partial``).
    subscores : sub-score per parameter, ``None`` where the parameter is missing.
    band : clinical risk (Chart 2).
    response : monitoring frequency and clinical response (Chart 4).
    any_single_3 : whether any one parameter scores 3 (the "red score" key threshold).
    partial : whether any parameter is missing.
    missing : the missing parameters, in chart order.
    spo2_scale : the SpO2 scale used.
    """

    total: int
    subscores: Mapping[Param, int | None]
    band: Band
    response: ClinicalResponse
    any_single_3: bool
    partial: bool
    missing: tuple[Param, ...]
    spo2_scale: int = 1


def _half_up(value: float, places: int = 0) -> int:
    """``value`` rounded half up to ``places`` decimals, in units of 10**-places (36.05, 1 → 361)."""
    exact = Decimal(repr(float(value))).scaleb(places)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _band(value: int, bands: tuple[tuple[int, int], ...], above: int) -> int:
    for upper, score in bands:
        if value <= upper:
            return score
    return above


def _present(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _score_spo2(spo2: int, scale: int, on_oxygen: bool | None) -> int | None:
    if scale == 1:
        return _band(spo2, ((91, 3), (93, 2), (95, 1)), 0)
    if spo2 <= 92:
        return _band(spo2, ((83, 3), (85, 2), (87, 1)), 0)
    if on_oxygen is None:
        return None  # scale 2, >= 93 %: the score depends on air or oxygen
    return _band(spo2, ((94, 1), (96, 2)), 3) if on_oxygen else 0


def news2(inputs: News2Inputs) -> News2Result:
    """Score NEWS2 from windowed inputs.

    Parameters
    ----------
    inputs : News2Inputs
        Windowed values (e.g. from :func:`windowed_inputs`) and charted state.

    Returns
    -------
    News2Result
        Sub-scores, total, band and response; ``partial`` with the ``missing`` parameters listed
        when any input is absent.

    Examples
    --------
    >>> news2(News2Inputs(rr_per_min=8, spo2_pct=96, on_oxygen=False, sbp_mmhg=120,
    ...     pulse_per_min=70, consciousness="A", temp_c=37.0)).band.value
    'low-medium'
    """
    i = inputs
    sub: dict[Param, int | None] = {
        "respiration_rate": _band(_half_up(i.rr_per_min), ((8, 3), (11, 1), (20, 0), (24, 2)), 3) if _present(i.rr_per_min) else None,
        "spo2": _score_spo2(_half_up(i.spo2_pct), i.spo2_scale, i.on_oxygen) if _present(i.spo2_pct) else None,
        "air_or_oxygen": None if i.on_oxygen is None else (2 if i.on_oxygen else 0),
        "systolic_bp": _band(_half_up(i.sbp_mmhg), ((90, 3), (100, 2), (110, 1), (219, 0)), 3) if _present(i.sbp_mmhg) else None,
        "pulse": _band(_half_up(i.pulse_per_min), ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2)), 3) if _present(i.pulse_per_min) else None,
        "consciousness": None if i.consciousness is None else (0 if i.consciousness == "A" else 3),
        "temperature": _band(_half_up(i.temp_c, 1), ((350, 3), (360, 1), (380, 0), (390, 1)), 2) if _present(i.temp_c) else None,
    }
    missing = tuple(p for p in PARAMS if sub[p] is None)
    total = sum(s for s in sub.values() if s is not None)
    any_single_3 = any(s == 3 for s in sub.values())
    if total >= 7:
        band, response = Band.HIGH, _EMERGENCY
    elif total >= 5:
        band, response = Band.MEDIUM, _URGENT
    elif any_single_3:
        band, response = Band.LOW_MEDIUM, _URGENT_WARD
    else:
        band, response = Band.LOW, (_WARD if total else _ROUTINE)
    return News2Result(
        total=total,
        subscores=sub,
        band=band,
        response=response,
        any_single_3=any_single_3,
        partial=bool(missing),
        missing=missing,
        spo2_scale=i.spo2_scale,
    )


@dataclass(frozen=True, slots=True)
class ChartedState:
    """The charted part of NEWS2 at one time: the latest value of each charted event (``None``: never charted)."""

    on_oxygen: bool | None = None
    consciousness: Acvpu | None = None
    spo2_scale: Literal[1, 2] = 1
    updated_ns: dict[str, int] = field(default_factory=dict)


def charted_state(events: Iterable[ChartedEvent], now_ns: int) -> ChartedState:
    """Latest supplemental oxygen, consciousness and SpO2 scale charted at or before ``now_ns``.

    Events of one patient, in any order; on a tie of timestamps the later one in ``events`` wins.
    Without a ``spo2_scale`` event the scale is 1 (the chart's default).
    """
    latest: dict[str, tuple[int, str]] = {}
    for ev in events:
        if ev.event not in ("supplemental_oxygen", "consciousness", "spo2_scale") or ev.timestamp_ns > now_ns:
            continue
        seen = latest.get(ev.event)
        if seen is None or ev.timestamp_ns >= seen[0]:
            latest[ev.event] = (ev.timestamp_ns, ev.value)
    oxygen = latest.get("supplemental_oxygen")
    acvpu = latest.get("consciousness")
    scale = latest.get("spo2_scale")
    return ChartedState(
        on_oxygen=None if oxygen is None else oxygen[1] == "on",
        consciousness=None if acvpu is None else acvpu[1],  # type: ignore[arg-type]
        spo2_scale=2 if scale is not None and scale[1] == "2" else 1,
        updated_ns={kind: ts for kind, (ts, _) in latest.items()},
    )


def window_median(samples: Iterable[tuple[int, float]], *, now_ns: int, window_s: float) -> float:
    """Median of the finite values with timestamp in ``(now_ns - window_s, now_ns]``; NaN when none.

    Examples
    --------
    >>> window_median([(0, 70.0), (10**9, 180.0), (2 * 10**9, 72.0)], now_ns=2 * 10**9, window_s=5)
    72.0
    """
    start_ns = now_ns - round(window_s * 1e9)
    values = sorted(v for t, v in samples if start_ns < t <= now_ns and math.isfinite(v))
    n = len(values)
    if n == 0:
        return math.nan
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2.0


#: Signals read for each numeric parameter, in order of preference (the first with data wins).
SOURCES: dict[str, tuple[str, ...]] = {
    "rr_per_min": ("MDC_RESP_RATE",),
    "spo2_pct": ("MDC_PULS_OXIM_SAT_O2",),
    "sbp_mmhg": ("MDC_PRESS_BLD_NONINV_SYS", "MDC_PRESS_BLD_ART_ABP_SYS"),
    "pulse_per_min": ("MDC_ECG_HEART_RATE", "MDC_PULS_OXIM_PULS_RATE"),
    "temp_c": ("MDC_TEMP_BODY",),
}


def windowed_inputs(
    samples: Mapping[str, Iterable[tuple[int, float]]],
    *,
    now_ns: int,
    window_s: float = DEFAULT_WINDOW_S,
    window_s_by_signal: Mapping[str, float] | None = None,
    events: Iterable[ChartedEvent] = (),
) -> News2Inputs:
    """Build :class:`News2Inputs` from recent samples: each signal's median over its window.

    Parameters
    ----------
    samples : mapping of MDC reference id to ``(timestamp_ns, value)`` pairs of one patient.
    now_ns : end of the window (inclusive), UTC epoch nanoseconds.
    window_s : window length in seconds (default 300).
    window_s_by_signal : longer windows for intermittent signals, e.g.
        ``{"MDC_PRESS_BLD_NONINV_SYS": 3600, "MDC_TEMP_BODY": 14400}`` for a cuff every 15-60 min.
    events : the patient's charted events; see :func:`charted_state`.

    Returns
    -------
    News2Inputs
        Medians (``None`` where a parameter has no sample in its window) and the charted state.
        Pulse reads the ECG heart rate, else the oximeter's pulse rate; systolic BP the cuff,
        else the arterial line.
    """
    windows = window_s_by_signal or {}
    values: dict[str, float | None] = {}
    for name, signals in SOURCES.items():
        values[name] = None
        for signal in signals:
            median = window_median(samples.get(signal, ()), now_ns=now_ns, window_s=windows.get(signal, window_s))
            if not math.isnan(median):
                values[name] = median
                break
    charted = charted_state(events, now_ns)
    return News2Inputs(
        **values,  # type: ignore[arg-type]
        on_oxygen=charted.on_oxygen,
        consciousness=charted.consciousness,
        spo2_scale=charted.spo2_scale,
    )
