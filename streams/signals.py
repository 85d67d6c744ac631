"""The signal code table: every code WardWatch knows, its canonical UCUM unit and plausible range.

Canonical records name a signal by its IEEE 11073-10101 (MDC) reference id, for example
``MDC_ECG_HEART_RATE``; the few signals MDC has no term for (wearable accelerometer axes) carry a
``WARDWATCH_`` id and no MDC code. MDC codes are the 32-bit context-free codes (partition 2,
SCADA: 131072 + term code), checked against the FHIR ``devicemetric-type`` value set and the
OpenICE x73 IDL. Adapters may look a signal up by that id, by its numeric MDC code
(``"147842"``) or by a LOINC code (``"8867-4"``); :func:`lookup` accepts all three.

The plausible range is physiological possibility, not normality: a value outside it cannot come
from a patient (wrong unit, a device fault, a parsing error) and is rejected as bad input. A heart
rate of 0 is inside (asystole); a body temperature of 98.6 is outside (that is Fahrenheit).

>>> lookup("8867-4").code
'MDC_ECG_HEART_RATE'
>>> lookup("MDC_PULS_OXIM_SAT_O2").unit
'%'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wardwatch.errors import UnknownSignalError

__all__ = ["SignalSpec", "SIGNALS", "lookup", "VITAL_SIGNS"]


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One signal: MDC reference id, MDC numeric code, LOINC codes, canonical UCUM unit, plausible range."""

    code: str
    mdc_code: int | None
    loinc: tuple[str, ...]
    unit: str
    low: float
    high: float
    kind: Literal["numeric", "waveform"]
    label: str

    def plausible(self, value: float) -> bool:
        """Whether ``value`` (in :attr:`unit`) can come from a patient."""
        return self.low <= value <= self.high


_TABLE: tuple[SignalSpec, ...] = (
    # --- numerics -------------------------------------------------------------------------
    SignalSpec("MDC_ECG_HEART_RATE", 147842, ("8867-4",), "/min", 0, 350, "numeric", "Heart rate"),
    SignalSpec("MDC_PULS_OXIM_PULS_RATE", 149530, ("8889-8",), "/min", 0, 350, "numeric", "Pulse rate (oximeter)"),
    SignalSpec("MDC_PULS_OXIM_SAT_O2", 150456, ("59408-5", "2708-6"), "%", 0, 100, "numeric", "SpO2"),
    SignalSpec("MDC_RESP_RATE", 151562, ("9279-1",), "/min", 0, 150, "numeric", "Respiratory rate"),
    SignalSpec("MDC_TTHOR_RESP_RATE", 151578, (), "/min", 0, 150, "numeric", "Respiratory rate (impedance)"),
    SignalSpec("MDC_PULS_OXIM_PERF_REL", 150448, (), "%", 0, 100, "numeric", "Perfusion index"),
    SignalSpec("MDC_PRESS_BLD_NONINV_SYS", 150021, ("8480-6",), "mm[Hg]", 0, 350, "numeric", "Systolic BP (cuff)"),
    SignalSpec("MDC_PRESS_BLD_NONINV_DIA", 150022, ("8462-4",), "mm[Hg]", 0, 300, "numeric", "Diastolic BP (cuff)"),
    SignalSpec("MDC_PRESS_BLD_NONINV_MEAN", 150023, ("8478-0",), "mm[Hg]", 0, 300, "numeric", "Mean BP (cuff)"),
    SignalSpec("MDC_PRESS_BLD_ART_ABP_SYS", 150037, ("76215-3",), "mm[Hg]", 0, 350, "numeric", "Systolic BP (arterial line)"),
    SignalSpec("MDC_PRESS_BLD_ART_ABP_DIA", 150038, ("76213-8",), "mm[Hg]", 0, 300, "numeric", "Diastolic BP (arterial line)"),
    SignalSpec("MDC_PRESS_BLD_ART_ABP_MEAN", 150039, ("76214-6",), "mm[Hg]", 0, 300, "numeric", "Mean BP (arterial line)"),
    SignalSpec("MDC_TEMP_BODY", 150364, ("8310-5",), "Cel", 25, 45, "numeric", "Body temperature"),
    SignalSpec("MDC_TEMP_SKIN", 150388, ("39106-0",), "Cel", 10, 45, "numeric", "Skin temperature"),
    SignalSpec("MDC_AWAY_CO2_ET", 151728, ("19889-5",), "mm[Hg]", 0, 150, "numeric", "End-tidal CO2"),
    # --- waveforms ------------------------------------------------------------------------
    SignalSpec("MDC_ECG_ELEC_POTL_I", 131329, (), "mV", -20, 20, "waveform", "ECG lead I"),
    SignalSpec("MDC_ECG_ELEC_POTL_II", 131330, (), "mV", -20, 20, "waveform", "ECG lead II"),
    SignalSpec("MDC_ECG_ELEC_POTL_III", 131389, (), "mV", -20, 20, "waveform", "ECG lead III"),
    SignalSpec("MDC_ECG_ELEC_POTL_AVR", 131390, (), "mV", -20, 20, "waveform", "ECG lead aVR"),
    SignalSpec("MDC_ECG_ELEC_POTL_AVF", 131392, (), "mV", -20, 20, "waveform", "ECG lead aVF"),
    SignalSpec("MDC_ECG_ELEC_POTL_V", 131395, (), "mV", -20, 20, "waveform", "ECG lead V"),
    SignalSpec("MDC_PULS_OXIM_PLETH", 150452, (), "1", -1e6, 1e6, "waveform", "Plethysmogram (PPG)"),
    SignalSpec("MDC_PRESS_BLD_ART_ABP", 150036, (), "mm[Hg]", -50, 400, "waveform", "Arterial pressure wave"),
    SignalSpec("MDC_IMPED_TTHOR", 151780, (), "1", -1e6, 1e6, "waveform", "Respiration (thoracic impedance)"),
    SignalSpec("WARDWATCH_ACCEL_X", None, (), "m/s2", -160, 160, "waveform", "Accelerometer X"),
    SignalSpec("WARDWATCH_ACCEL_Y", None, (), "m/s2", -160, 160, "waveform", "Accelerometer Y"),
    SignalSpec("WARDWATCH_ACCEL_Z", None, (), "m/s2", -160, 160, "waveform", "Accelerometer Z"),
)

#: Every known signal by its MDC reference id.
SIGNALS: dict[str, SignalSpec] = {spec.code: spec for spec in _TABLE}

#: The six numeric vital signs of the walking skeleton, in display order.
VITAL_SIGNS: tuple[str, ...] = (
    "MDC_ECG_HEART_RATE",
    "MDC_PULS_OXIM_SAT_O2",
    "MDC_RESP_RATE",
    "MDC_PRESS_BLD_NONINV_SYS",
    "MDC_PRESS_BLD_NONINV_DIA",
    "MDC_TEMP_BODY",
)

_ALIASES: dict[str, SignalSpec] = {}
for _spec in _TABLE:
    _ALIASES[_spec.code] = _spec
    if _spec.mdc_code is not None:
        _ALIASES[str(_spec.mdc_code)] = _spec
    for _loinc in _spec.loinc:
        _ALIASES[_loinc] = _spec


def lookup(code: str) -> SignalSpec:
    """Find a signal by MDC reference id, numeric MDC code or LOINC code.

    Raises :class:`~wardwatch.errors.UnknownSignalError` when no table has it.
    """
    try:
        return _ALIASES[code.strip()]
    except KeyError:
        raise UnknownSignalError(code) from None
