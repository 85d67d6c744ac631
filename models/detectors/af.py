"""AF detector: rhythm class of a 30 s single-lead ECG window (N, A, O, ~ as in CinC 2017).

**Input the detector wants.** One ECG lead in **millivolts**, sampled at :data:`FS_HZ` = 300 Hz,
:data:`WINDOW_S` = 30 s long: a window has shape ``(1, 9000)`` (``window_shape``), float32, a batch
``(batch, 1, 9000)``. Any lead works (it was trained on CinC 2017 hand-held lead I-like recordings
and CPSC 2021 lead I). A recording at another rate goes through :func:`window_from_ecg`, which
resamples it (polyphase, :func:`scipy.signal.resample_poly`), keeps its **last** 30 s and pads a
shorter one with NaN at the start; NaN padding at either end is ignored, so a window needs at least
5 s of finite samples (:data:`~wardwatch.models.detectors.af_features.MIN_USABLE_S`) to be scored.

**Output.** :meth:`AFDetector.score` gives P(AF) per window, NaN for a window that cannot be scored
(all NaN, flat, under 5 s); :meth:`AFDetector.classify` gives ``N`` normal, ``A`` AF, ``O`` other
rhythm or ``~`` too noisy, and ``~`` for a window that cannot be scored;
:meth:`AFDetector.predict_proba` gives the four probabilities.

**How.** Rhythm features (RR irregularity from the project's QRS detector, P-wave and f-wave
evidence, signal quality: :mod:`wardwatch.models.detectors.af_features`) go through a small torch
MLP trained by ``wardwatch train af``. Metrics, data and limits: ``cards/af.md``.

>>> import numpy as np
>>> det = AFDetector(device="cpu")
>>> fs_hz = 250.0
>>> t = np.arange(int(40 * fs_hz)) / fs_hz
>>> beats = np.cumsum(np.random.default_rng(1).uniform(0.45, 1.1, 80))
>>> ecg_mv = sum(np.exp(-((t - b) ** 2) / (2 * 0.012**2)) for b in beats if b < 40)
>>> w = window_from_ecg(ecg_mv, fs_hz)
>>> w.shape
(1, 9000)
>>> det.score(w[None]).shape
(1,)
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import resample_poly

from wardwatch.errors import ConfigurationError
from wardwatch.models.detectors.af_features import FEATURE_NAMES, window_features
from wardwatch.models.detectors.base import Detector, pick_device

logger = logging.getLogger(__name__)

__all__ = ["AFDetector", "FS_HZ", "WINDOW_S", "CLASSES", "window_from_ecg", "record_windows", "labels_from_proba", "build_net",
           "WEIGHTS_PATH"]

FS_HZ = 300.0
WINDOW_S = 30.0
_N = int(FS_HZ * WINDOW_S)
#: Output classes, in the order of :meth:`AFDetector.predict_proba`'s columns.
CLASSES: tuple[str, ...] = ("N", "A", "O", "~")
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "af.pt"


def _resample(x: NDArray[np.float64], fs_hz: float) -> NDArray[np.float64]:
    if fs_hz == FS_HZ or x.size == 0:
        return x
    ratio = Fraction(FS_HZ / fs_hz).limit_denominator(1000)
    bad = ~np.isfinite(x)
    filled = x
    if bad.all():
        filled = np.zeros_like(x)
    elif bad.any():  # hold the last finite value (the first one before it) while resampling
        idx = np.where(bad, 0, np.arange(x.size))
        idx[: np.flatnonzero(~bad)[0]] = np.flatnonzero(~bad)[0]
        np.maximum.accumulate(idx, out=idx)
        filled = x[idx]
    y = resample_poly(filled, ratio.numerator, ratio.denominator, padtype="line")
    if bad.any():  # keep the gaps: nearest-sample mask at the new rate
        src = np.minimum((np.arange(y.size) * fs_hz / FS_HZ).round().astype(np.int64), x.size - 1)
        y[bad[src]] = np.nan
    return y


def window_from_ecg(samples_mv: ArrayLike, fs_hz: float) -> NDArray[np.float32]:
    """One lead at any rate into the detector's window: shape ``(1, 9000)``, 300 Hz, mV.

    Parameters
    ----------
    samples_mv : array_like, 1-D
        One ECG lead in millivolts, oldest sample first; NaN for missing samples.
    fs_hz : float
        Its sampling rate (e.g. 125, 200, 250, 360, 500).

    Returns
    -------
    ndarray of float32, shape (1, 9000)
        The last 30 s resampled to 300 Hz; a shorter lead is padded with NaN at the start.
    """
    if not fs_hz > 0:
        raise ValueError(f"fs_hz must be > 0, got {fs_hz}")
    x = np.asarray(samples_mv, dtype=np.float64).ravel()
    x = x[-int(np.ceil(WINDOW_S * fs_hz)) - 2:]  # a little more than 30 s before resampling
    y = _resample(x, float(fs_hz))[-_N:]
    out = np.full((1, _N), np.nan, dtype=np.float32)
    if y.size:
        out[0, _N - y.size:] = y
    return out


def record_windows(samples_mv: ArrayLike, fs_hz: float = FS_HZ) -> NDArray[np.float32]:
    """A whole recording as consecutive 30 s windows, shape ``(k, 1, 9000)``, ``k >= 1``.

    Windows start every 30 s; the last one ends at the record's end (it overlaps the one
    before); a record under 30 s gives one window padded with NaN at the end.
    """
    x = _resample(np.asarray(samples_mv, dtype=np.float64).ravel(), float(fs_hz))
    if x.size <= _N:
        out = np.full((1, 1, _N), np.nan, dtype=np.float32)
        out[0, 0, : x.size] = x
        return out
    starts = list(range(0, x.size - _N + 1, _N))
    if starts[-1] + _N < x.size:
        starts.append(x.size - _N)
    return np.stack([x[s:s + _N] for s in starts])[:, None, :].astype(np.float32)


def build_net(n_features: int, hidden: int, n_members: int) -> Any:
    """The MLP ensemble: standardise, impute NaN with 0 (the training mean), average softmaxes."""
    import torch
    from torch import nn

    class _Member(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(0.1),
                                      nn.Linear(hidden, len(CLASSES)))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.body(z)

    class AFNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(n_features))
            self.register_buffer("std", torch.ones(n_features))
            self.members = nn.ModuleList(_Member() for _ in range(n_members))

        def standardise(self, x: torch.Tensor) -> torch.Tensor:
            z = (x - self.mean) / self.std
            return torch.nan_to_num(z, nan=0.0).clamp(-8.0, 8.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = self.standardise(x)
            return torch.stack([m(z).softmax(-1) for m in self.members]).mean(0)

    return AFNet()


class AFDetector(Detector):
    """P(AF) and the rhythm class of 30 s single-lead ECG windows (300 Hz, mV).

    Parameters
    ----------
    device : str
        ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    weights : path, optional
        A weights file written by ``wardwatch train af``; default: the shipped ``weights/af.pt``.
    """

    name: ClassVar[str] = "af"
    window_shape: ClassVar[tuple[int, ...]] = (1, _N)
    description: ClassVar[str] = "P(atrial fibrillation) of 30 s of one ECG lead (300 Hz, mV)"
    FS_HZ: ClassVar[float] = FS_HZ
    WINDOW_S: ClassVar[float] = WINDOW_S

    def __init__(self, device: str = "auto", weights: str | Path | None = None) -> None:
        import torch

        path = Path(weights) if weights is not None else WEIGHTS_PATH
        if not path.is_file():
            raise ConfigurationError("af weights", f"no weights file at {path}", "run `wardwatch train af`")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        names = tuple(blob["feature_names"])
        if names != FEATURE_NAMES:
            raise ConfigurationError("af weights", f"{path} was trained on other features", "run `wardwatch train af` again")
        self.device = pick_device(device)
        self.net = build_net(len(names), int(blob["hidden"]), int(blob["members"]))
        self.net.load_state_dict(blob["state_dict"])
        self.net.to(self.device).eval()

    def features(self, windows: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Feature rows of a batch, shape ``(batch, n_features)``, and which windows are scorable."""
        arr = self.check_batch(windows)
        rows = np.full((arr.shape[0], len(FEATURE_NAMES)), np.nan)
        ok = np.zeros(arr.shape[0], dtype=bool)
        for i, w in enumerate(arr):
            f = window_features(w[0], FS_HZ)
            if f is not None:
                rows[i], ok[i] = f, True
        return rows, ok

    def proba_from_features(self, rows: NDArray[np.float64], ok: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
        """Class probabilities (columns :data:`CLASSES`) from feature rows; NaN rows where not ``ok``."""
        import torch

        ok = np.ones(rows.shape[0], dtype=bool) if ok is None else ok
        out = np.full((rows.shape[0], len(CLASSES)), np.nan)
        if ok.any():
            with torch.inference_mode():
                x = torch.as_tensor(rows[ok], dtype=torch.float32, device=self.device)
                out[ok] = self.net(x).double().cpu().numpy()
        return out

    def predict_proba(self, windows: NDArray[Any]) -> NDArray[np.float64]:
        """Probabilities of N, A, O, ~ per window, shape ``(batch, 4)``; a NaN row if unscorable."""
        return self.proba_from_features(*self.features(windows))

    def score(self, windows: NDArray[np.float32]) -> NDArray[np.float64]:
        """P(AF) per window, shape ``(batch,)``; NaN where a window cannot be scored."""
        return self.predict_proba(windows)[:, CLASSES.index("A")]

    def classify(self, windows: NDArray[Any]) -> list[str]:
        """``N``, ``A``, ``O`` or ``~`` per window (``~`` also for a window that cannot be scored)."""
        return labels_from_proba(self.predict_proba(windows))


def labels_from_proba(proba: NDArray[np.float64]) -> list[str]:
    """The most probable class of each row; ``~`` for a NaN row."""
    return ["~" if not np.all(np.isfinite(p)) else CLASSES[int(np.argmax(p))] for p in proba]
