"""Beat-by-beat comparison of detected events with reference annotations.

One routine, :func:`match_beats`, serves the benchmark (QRS sensitivity and positive
predictivity), the tests and the ECG signal-quality index: a greedy one-to-one matching of two
sorted index lists within a tolerance, in time order. Optionally only part of the record is
scored (the CPSC 2019 challenge scores 0.5–9.5 s of each 10-s record): references are counted
inside ``[lo, hi]``, unmatched detections inside ``[lo + tol, hi - tol]``, as that challenge's
scoring program does.

>>> m = match_beats([100, 200, 300], [102, 210, 250, 299], tol=5)
>>> (m.tp, m.fn, m.fp)
(2, 1, 2)
>>> round(m.sensitivity, 3), round(m.positive_predictivity, 3)
(0.667, 0.5)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

logger = logging.getLogger(__name__)

__all__ = ["BeatMatch", "match_beats"]


@dataclass(frozen=True)
class BeatMatch:
    """Counts of a beat comparison: true positives, false negatives, false positives."""

    tp: int
    fn: int
    fp: int

    @property
    def sensitivity(self) -> float:
        """Se = TP / (TP + FN); NaN without reference beats."""
        n = self.tp + self.fn
        return self.tp / n if n else float("nan")

    @property
    def positive_predictivity(self) -> float:
        """+P = TP / (TP + FP); NaN without detections."""
        n = self.tp + self.fp
        return self.tp / n if n else float("nan")

    @property
    def f1(self) -> float:
        """2·TP / (2·TP + FN + FP); NaN when both lists are empty."""
        n = 2 * self.tp + self.fn + self.fp
        return 2 * self.tp / n if n else float("nan")

    def __add__(self, other: BeatMatch) -> BeatMatch:
        return BeatMatch(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)


def match_beats(
    reference: ArrayLike,
    detected: ArrayLike,
    tol: int,
    lo: float | None = None,
    hi: float | None = None,
) -> BeatMatch:
    """Match detections to reference beats one to one within ``tol`` samples.

    Parameters
    ----------
    reference, detected : array_like of int
        Sample indices (any order).
    tol : int
        Largest distance, in samples, at which a detection counts for a reference beat
        (for example ``round(0.15 * fs_hz)`` for the usual 150 ms window).
    lo, hi : float, optional
        Score only this part of the record (sample indices); see the module docstring.

    Returns
    -------
    BeatMatch
    """
    ref = np.sort(np.asarray(reference, dtype=np.int64).ravel())
    det = np.sort(np.asarray(detected, dtype=np.int64).ravel())
    ref_hit = np.zeros(ref.size, dtype=bool)
    det_hit = np.zeros(det.size, dtype=bool)
    i = j = 0
    while i < ref.size and j < det.size:
        d = int(det[j]) - int(ref[i])
        if abs(d) <= tol:
            ref_hit[i] = det_hit[j] = True
            i += 1
            j += 1
        elif d < 0:
            j += 1
        else:
            i += 1
    low = -np.inf if lo is None else float(lo)
    high = np.inf if hi is None else float(hi)
    in_ref = (ref >= low) & (ref <= high)
    in_det = (det >= low + tol) & (det <= high - tol)
    return BeatMatch(
        tp=int(np.sum(ref_hit & in_ref)),
        fn=int(np.sum(~ref_hit & in_ref)),
        fp=int(np.sum(~det_hit & in_det)),
    )
