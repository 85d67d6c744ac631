"""A one-line-per-patient view of the ward, read back from InfluxDB.

>>> format_line("01", "p-0123456789abcdef0123", {"MDC_ECG_HEART_RATE": 72.0, "news2.total": 3.0,
...     "news2.band_level": 1.0, "news2.missing": 0.0}, 3.2)
'bed 01  p-0123456789abcdef0123  NEWS2 3 low-medium  HR 72 /min  SpO2 -- %  RR -- /min  BP --/-- mm[Hg]  T -- Cel  (3 s ago)'
"""

from __future__ import annotations

import time
from typing import Any

from wardwatch.agents.influx import FEATURES_MEASUREMENT, VITALS_MEASUREMENT, InfluxWriter
from wardwatch.config import Settings

__all__ = ["latest_vitals", "format_line", "ward_status"]


def latest_vitals(writer: InfluxWriter, ward: str, window: str = "10m") -> dict[tuple[str, str], dict[str, Any]]:
    """Latest value of each signal of each patient on ``ward``: {(bed, patient): {signal: value, "_time": ns}}."""
    if not window[:-1].isdigit() or window[-1] not in "smhd":
        raise ValueError(f"window {window!r} must be a number followed by s, m, h or d")
    rows = writer.query(
        f'SELECT last("value") AS "value" FROM "{VITALS_MEASUREMENT}" '
        f'WHERE "ward" = $ward AND time > now() - {window} GROUP BY "bed", "patient", "signal"',
        bind_params={"ward": ward},
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        entry = out.setdefault((row["bed"], row["patient"]), {"_time": 0})
        entry[row["signal"]] = row["value"]
        entry["_time"] = max(entry["_time"], int(row["time"]))
    try:
        scores = writer.query(
            f'SELECT last("news2.total") AS "news2.total", last("news2.band_level") AS "news2.band_level", '
            f'last("news2.missing") AS "news2.missing" FROM "{FEATURES_MEASUREMENT}" '
            f'WHERE "ward" = $ward AND "source" = \'news2\' AND time > now() - {window} GROUP BY "bed", "patient"',
            bind_params={"ward": ward},
        )
    except Exception:  # no features yet (the measurement does not exist before the first score)
        scores = []
    for row in scores:
        entry = out.get((row["bed"], row["patient"]))
        if entry is not None:
            entry.update({k: row[k] for k in ("news2.total", "news2.band_level", "news2.missing")})
    return dict(sorted(out.items()))


def _fmt(values: dict[str, Any], code: str, decimals: int = 0) -> str:
    value = values.get(code)
    return "--" if value is None else f"{value:.{decimals}f}"


_BANDS = ("low", "low-medium", "medium", "HIGH")


def _news2(values: dict[str, Any]) -> str:
    total = values.get("news2.total")
    if total is None:
        return "NEWS2 --"
    band = _BANDS[int(values.get("news2.band_level") or 0)]
    partial = " (partial)" if values.get("news2.missing") else ""
    return f"NEWS2 {total:.0f} {band}{partial}"


def format_line(bed: str, patient: str, values: dict[str, Any], age_s: float) -> str:
    """One patient's line: bed, pseudonymous reference, NEWS2 and its band (words, not only colour),
    the six vital signs, age of the newest value."""
    return (
        f"bed {bed}  {patient}  {_news2(values)}  "
        f"HR {_fmt(values, 'MDC_ECG_HEART_RATE')} /min  "
        f"SpO2 {_fmt(values, 'MDC_PULS_OXIM_SAT_O2')} %  "
        f"RR {_fmt(values, 'MDC_RESP_RATE')} /min  "
        f"BP {_fmt(values, 'MDC_PRESS_BLD_NONINV_SYS')}/{_fmt(values, 'MDC_PRESS_BLD_NONINV_DIA')} mm[Hg]  "
        f"T {_fmt(values, 'MDC_TEMP_BODY', 1)} Cel  "
        f"({age_s:.0f} s ago)"
    )


def ward_status(settings: Settings, window: str = "10m") -> list[str]:
    """The ward's status lines, one per patient with data in the last ``window``."""
    writer = InfluxWriter(settings.influx)
    try:
        latest = latest_vitals(writer, settings.ward.name, window)
    finally:
        writer.close()
    now = time.time_ns()
    return [format_line(bed, patient, values, max(0.0, (now - values["_time"]) / 1e9)) for (bed, patient), values in latest.items()]
