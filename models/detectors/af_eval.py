"""``wardwatch eval af``: label every CinC 2017-format record of a folder N, A, O or ~.

A record is a ``.mat`` file holding ``val`` (one lead, 300 Hz, ADC units of 1 µV, so mV = val/1000).
It is cut into 30 s windows (:func:`~wardwatch.models.detectors.af.record_windows`), the class
probabilities of its scorable windows are averaged and the most probable class is its label.
A record that cannot be read, is empty or too short (under 5 s of signal) or has no scorable
window is labelled ``~`` with a warning: every ``.mat`` gets exactly one row, nothing crashes.

>>> from pathlib import Path
>>> run(Path("../shared/data/cinc2017"), Path("/tmp/af.csv"), print)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from wardwatch.models.detectors.af import FS_HZ, AFDetector, labels_from_proba, record_windows

logger = logging.getLogger(__name__)

__all__ = ["read_cinc_record", "record_proba", "run"]


def read_cinc_record(path: Path) -> NDArray[np.float64]:
    """The lead of a CinC 2017 ``.mat`` record in millivolts (``val / 1000``), 1-D.

    Raises
    ------
    ValueError
        If the file is not a MATLAB file with a numeric ``val`` array.
    """
    from scipy.io import loadmat

    try:
        val = loadmat(str(path))["val"]
    except (KeyError, OSError, ValueError, TypeError, NotImplementedError) as exc:
        raise ValueError(f"{path.name}: not a CinC 2017 record ({type(exc).__name__}: {exc})") from exc
    arr = np.asarray(val, dtype=np.float64)
    if arr.ndim != 2 or min(arr.shape) != 1:
        raise ValueError(f"{path.name}: 'val' must be one lead, got shape {arr.shape}")
    return arr.ravel() / 1000.0


def record_proba(det: AFDetector, samples_mv: NDArray[np.float64], fs_hz: float = FS_HZ) -> NDArray[np.float64]:
    """Mean class probabilities over a record's scorable 30 s windows; NaN if none is scorable."""
    proba = det.predict_proba(record_windows(samples_mv, fs_hz))
    good = np.all(np.isfinite(proba), axis=1)
    if not good.any():
        return np.full(proba.shape[1], np.nan)
    return proba[good].mean(axis=0)


def run(data_dir: Path, out_file: Path, echo: Callable[[str], object]) -> int:
    """Write ``record,label`` for every ``*.mat`` in ``data_dir``; return the number of rows.

    Parameters
    ----------
    data_dir : Path
        Folder of CinC 2017-format records.
    out_file : Path
        The CSV to write (its folder is created).
    echo : callable
        Where progress and warnings go (the CLI passes ``click.echo``).
    """
    files = sorted(p for p in Path(data_dir).iterdir() if p.suffix == ".mat" and p.is_file())
    if not files:
        echo(f"warning: no .mat records in {data_dir}")
    det = AFDetector()
    rows: list[tuple[str, str]] = []
    for path in files:
        label = "~"
        try:
            x = read_cinc_record(path)
            proba = record_proba(det, x)
            if np.all(np.isfinite(proba)):
                label = labels_from_proba(proba[None])[0]
            else:
                echo(f"warning: {path.stem}: no scorable 30 s window ({x.size / FS_HZ:.1f} s of signal); labelled ~")
        except ValueError as exc:
            echo(f"warning: {exc}; labelled ~")
        except Exception as exc:  # noqa: BLE001 - one odd record must not stop the other rows
            logger.warning("af: %s failed (%s)", path.stem, type(exc).__name__, exc_info=True)
            echo(f"warning: {path.stem}: could not be scored ({type(exc).__name__}: {exc}); labelled ~")
        logger.debug("af label %s: %s", path.stem, label)
        rows.append((path.stem, label))
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["record", "label"])
        writer.writerows(rows)
    return len(rows)
