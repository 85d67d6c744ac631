"""Unit conversion to each signal's canonical UCUM unit.

Devices and interfaces write units many ways (``bpm``, ``{beats}/min``, ``mmHg``, ``[degF]``,
``kPa``). :func:`to_canonical` converts a value to the signal's canonical unit from
:mod:`wardwatch.streams.signals`, or raises :class:`~wardwatch.errors.SchemaValidationError`
naming the unit when it is unknown or does not fit the signal.

>>> to_canonical("MDC_TEMP_BODY", 98.6, "[degF]")
37.0
>>> round(to_canonical("MDC_PRESS_BLD_NONINV_SYS", 16.0, "kPa"), 1)
120.0
"""

from __future__ import annotations

from collections.abc import Callable

from wardwatch.errors import SchemaValidationError, UnknownSignalError
from wardwatch.streams.signals import lookup

__all__ = ["to_canonical", "canonical_unit"]

_MMHG_PER_KPA = 7.500615758

# spelling → (canonical UCUM unit, conversion to it)
_UNITS: dict[str, tuple[str, Callable[[float], float]]] = {}


def _add(canonical: str, convert: Callable[[float], float], *spellings: str) -> None:
    for spelling in spellings:
        _UNITS[spelling.lower()] = (canonical, convert)


def _same(x: float) -> float:
    return x


_add("/min", _same, "/min", "1/min", "min-1", "bpm", "{beats}/min", "{beat}/min", "beats/min", "{breaths}/min",
     "{breath}/min", "breaths/min", "brpm", "rpm", "{counts}/min", "count/min", "/minute", "per min")
_add("/min", lambda x: x * 60.0, "/s", "1/s", "hz")
_add("%", _same, "%", "percent", "pct", "%{saturation}")
_add("%", lambda x: x * 100.0, "{fraction}")
_add("mm[Hg]", _same, "mm[hg]", "mmhg", "mm hg", "torr")
_add("mm[Hg]", lambda x: round(x * _MMHG_PER_KPA, 6), "kpa")
_add("Cel", _same, "cel", "degc", "°c", "c", "celsius", "deg c")
_add("Cel", lambda x: round((x - 32.0) * 5.0 / 9.0, 6), "[degf]", "degf", "°f", "f", "fahrenheit")
_add("Cel", lambda x: round(x - 273.15, 6), "k", "kelvin")
_add("mV", _same, "mv")
_add("mV", lambda x: x / 1000.0, "uv", "µv", "microvolt")
_add("mV", lambda x: x * 1000.0, "v")
_add("1", _same, "1", "{arb'u}", "{unitless}", "")
_add("Ohm", _same, "ohm", "Ω")
_add("m/s2", _same, "m/s2", "m/s^2", "m.s-2")
_add("m/s2", lambda x: x * 9.80665, "[g]", "g")


def canonical_unit(signal: str) -> str:
    """The canonical UCUM unit of ``signal`` (any alias :func:`~wardwatch.streams.signals.lookup` takes)."""
    return lookup(signal).unit


def to_canonical(signal: str, value: float, unit: str) -> float:
    """``value`` in ``unit`` converted to ``signal``'s canonical unit.

    Raises :class:`~wardwatch.errors.SchemaValidationError` (field ``unit`` or ``signal``) when the
    unit is unknown or measures something else.
    """
    try:
        target = lookup(signal).unit
    except UnknownSignalError as exc:
        raise SchemaValidationError("signal", str(exc)) from None
    known = _UNITS.get(unit.strip().lower())
    if known is None:
        raise SchemaValidationError("unit", f"unknown unit {unit!r} for {signal} (expected {target!r} or a convertible unit)")
    canonical, convert = known
    if canonical != target:
        raise SchemaValidationError("unit", f"{unit!r} measures {canonical!r}, but {signal} is carried in {target!r}")
    return float(convert(float(value)))
