"""Fixtures for the signal-processing tests: the real recordings in ``../shared/data``.

Tests that need a recording fail (never skip) with the path they looked for when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"

#: WFDB annotation symbols that mark a beat (not rhythm changes, noise or comments).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")


def need(relative: str) -> Path:
    """The path of a recording file under the shared data folder; fail clearly if missing."""
    path = DATA_DIR / relative
    if not path.exists():
        pytest.fail(f"recording missing: {path.resolve()} (the shared data folder ../shared/data must be present)")
    return path


@pytest.fixture(scope="session")
def mitdb100() -> tuple[np.ndarray, float, np.ndarray]:
    """MIT-BIH record 100, lead MLII: samples, fs_hz and the reference beat indices."""
    import wfdb

    base = str(need("mimic-mitdb/100.hea"))[:-4]
    rec = wfdb.rdrecord(base)
    ann = wfdb.rdann(base, "atr")
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS], dtype=np.int64)
    return rec.p_signal[:, rec.sig_name.index("MLII")].astype(np.float64), float(rec.fs), beats


@pytest.fixture(scope="session")
def mitdb100_path() -> str:
    """The WFDB record path (without extension) of MIT-BIH record 100."""
    return str(need("mimic-mitdb/100.hea"))[:-4]
