"""Reading PhysioNet/CinC 2015 alarm records into verifier windows.

A 2015 record is 5 min (``…s``) or 5.5 min (``…l``) at 250 Hz; the alarm fires at 5:00. Its
header comments name the alarm type (``#Asystole``) and, in the training set, the verdict
(``#True alarm`` / ``#False alarm``). :func:`read_alarm_type` reads the type only and never
looks at the verdict; the verdicts for training come from the folder's ``ALARMS`` file
(:func:`read_verdicts`).

:func:`read_window` maps the record's channels onto the verifier's four: the first two ECG
leads in header order (``II``, ``V``, ``I``, ``III``, ``aVR``, ``aVL``, ``aVF``, ``MCL``),
``PLETH`` and ``ABP``; a channel the record lacks is all-NaN.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from wardwatch.errors import SchemaValidationError
from wardwatch.models.detectors.alarm_evidence import ALARM_TYPES, FS_HZ

__all__ = ["ALARM_AT_S", "ECG_LEADS", "read_alarm_type", "read_verdicts", "read_window", "record_names"]

logger = logging.getLogger(__name__)

ALARM_AT_S = 300.0
ECG_LEADS = frozenset({"I", "II", "III", "V", "aVR", "aVL", "aVF", "MCL"})


def record_names(data_dir: Path) -> list[str]:
    """Record names (header stems) of a folder, sorted."""
    return sorted(p.stem for p in Path(data_dir).glob("*.hea"))


def read_alarm_type(header: Path) -> str:
    """The alarm type named in a 2015 header's comments (the verdict line is not read).

    Raises
    ------
    SchemaValidationError
        When no comment line names one of the five alarm types.
    """
    for line in Path(header).read_text().splitlines():
        text = line.strip()
        if text.startswith("#") and text[1:].strip() in ALARM_TYPES:
            return text[1:].strip()
    raise SchemaValidationError(f"{Path(header).name}#comments", f"no alarm type line; expected one of {', '.join(ALARM_TYPES)}")


def read_verdicts(data_dir: Path) -> dict[str, tuple[str, int]]:
    """``record -> (alarm_type, verdict)`` from the folder's ``ALARMS`` file (training only)."""
    out: dict[str, tuple[str, int]] = {}
    for line in (Path(data_dir) / "ALARMS").read_text().splitlines():
        if line.strip():
            rec, kind, verdict = line.strip().split(",")
            out[rec] = (kind, int(verdict))
    return out


def read_window(base: Path, window_s: float, end_s: float = ALARM_AT_S) -> NDArray[np.float32]:
    """The four-channel window (``ecg1, ecg2, pleth, abp``) of ``window_s`` seconds ending at ``end_s``.

    Parameters
    ----------
    base : Path
        Record path without extension.
    window_s, end_s : float
        Window length and end (seconds from the record's start; the alarm is at 300 s).

    Returns
    -------
    ndarray of float32, shape (4, window_s * 250)
        Physical units (mV, NU, mmHg); NaN where the record has no such channel or no sample.
    """
    import wfdb

    rec = wfdb.rdrecord(str(base))
    if abs(float(rec.fs) - FS_HZ) > 1e-6:
        raise SchemaValidationError(f"{Path(base).name}.fs", f"expected {FS_HZ:g} Hz, got {rec.fs}")
    names = list(rec.sig_name)
    n = int(round(window_s * FS_HZ))
    stop = int(round(end_s * FS_HZ))
    out = np.full((4, n), np.nan, dtype=np.float32)
    ecg = [i for i, s in enumerate(names) if s in ECG_LEADS][:2]
    rows = {0: ecg[0] if ecg else None, 1: ecg[1] if len(ecg) > 1 else None,
            2: names.index("PLETH") if "PLETH" in names else None, 3: names.index("ABP") if "ABP" in names else None}
    sig = rec.p_signal
    lo = stop - n
    for row, col in rows.items():
        if col is None:
            continue
        src = sig[max(lo, 0):min(stop, sig.shape[0]), col]
        at = max(lo, 0) - lo
        out[row, at:at + src.size] = src
    return out
