"""Arrhythmia alarm verifier: is this asystole / brady / tachy / VT / VF alarm true?

Trained on the PhysioNet/CinC 2015 challenge records (``models/detectors/cards/alarm_verifier.md``).
A window is four channels at 250 Hz, :attr:`AlarmVerifier.WINDOW_S` seconds ending at the
moment the monitor raised the alarm: ``ecg1, ecg2, pleth, abp`` (:data:`CHANNELS`); a channel
the bed does not have is all-NaN. :func:`from_channels` builds one from 250 Hz arrays.

The verifier computes physiological evidence for each window
(:mod:`~wardwatch.models.detectors.alarm_evidence`: beats and quality on every channel, the
2015 definition of the alarm type checked on each, agreement between channels, spectra) and
feeds it to a small MLP ensemble (:mod:`~wardwatch.models.detectors.alarm_net`), which gives
P(true alarm). :meth:`AlarmVerifier.decide` applies the per-type threshold shipped with the
weights (chosen in cross-validation to keep at least 95 % of true alarms).

>>> import numpy as np
>>> from wardwatch.models.detectors import get_detector
>>> det = get_detector("alarm-verifier")                       # doctest: +SKIP
>>> win = from_channels(ecg1=np.zeros(4000))                     # doctest: +SKIP
>>> p = det.verify(win[None], ["Asystole"])                      # doctest: +SKIP
>>> det.decide(float(p[0]), "Asystole")                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from wardwatch.errors import ConfigurationError
from wardwatch.models.detectors.alarm_evidence import ALARM_TYPES, CHANNELS, FEATURE_NAMES, alarm_features, channel_evidence
from wardwatch.models.detectors.alarm_net import AlarmNet, Ensemble
from wardwatch.models.detectors.base import Detector, pick_device

__all__ = ["AlarmVerifier", "from_channels", "WEIGHTS_PATH", "ALARM_TYPES", "CHANNELS"]

logger = logging.getLogger(__name__)

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "alarm_verifier.pt"
_WINDOW_S = 30


def from_channels(ecg1: ArrayLike | None = None, ecg2: ArrayLike | None = None, pleth: ArrayLike | None = None,
                  abp: ArrayLike | None = None) -> NDArray[np.float32]:
    """One verifier window from the last seconds of each channel, all at 250 Hz.

    Parameters
    ----------
    ecg1, ecg2 : array_like, optional
        Two ECG leads (mV), e.g. II and V; ``None`` for a lead the bed does not have.
    pleth : array_like, optional
        Plethysmogram (any unit).
    abp : array_like, optional
        Arterial blood pressure (mmHg).

    Returns
    -------
    ndarray of float32, shape (4, WINDOW_S * 250)
        The last ``WINDOW_S * 250`` samples of each channel, the alarm at the end; a shorter
        channel is padded with NaN at the start, a missing one is all-NaN. Resampling to
        250 Hz is the caller's job.
    """
    n = AlarmVerifier.window_shape[1]
    out = np.full((len(CHANNELS), n), np.nan, dtype=np.float32)
    for row, x in enumerate((ecg1, ecg2, pleth, abp)):
        if x is None:
            continue
        a = np.asarray(x, dtype=np.float32)
        if a.ndim != 1:
            raise ValueError(f"{CHANNELS[row]} must be one-dimensional, got shape {a.shape}")
        a = a[-n:]
        out[row, n - a.size:] = a
    return out


class AlarmVerifier(Detector):
    """P(true alarm) for PhysioNet-2015 arrhythmia alarms from ECG, PLETH and ABP evidence.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        Where the network runs (the evidence is computed on the CPU).
    default_alarm_type : str, optional
        The alarm type :meth:`score` assumes. When ``None`` (the default), :meth:`score` returns
        the highest P(true alarm) over the five types, i.e. how strongly the window supports
        *some* arrhythmia alarm.
    weights : path, optional
        A weights file written by ``wardwatch train alarm-verifier`` (default: the shipped one).
    """

    name: ClassVar[str] = "alarm-verifier"
    description: ClassVar[str] = "P(true arrhythmia alarm) from ECG/PLETH/ABP evidence (PhysioNet 2015)"
    FS_HZ: ClassVar[int] = 250
    WINDOW_S: ClassVar[int] = _WINDOW_S
    CHANNELS: ClassVar[tuple[str, ...]] = CHANNELS
    ALARM_TYPES: ClassVar[tuple[str, ...]] = ALARM_TYPES
    window_shape: ClassVar[tuple[int, ...]] = (len(CHANNELS), _WINDOW_S * 250)

    def __init__(self, device: str = "auto", default_alarm_type: str | None = None, weights: str | Path | None = None) -> None:
        if default_alarm_type is not None and default_alarm_type not in ALARM_TYPES:
            raise ConfigurationError("default_alarm_type", f"got {default_alarm_type!r}", f"use one of {', '.join(ALARM_TYPES)} or None")
        path = Path(weights) if weights is not None else WEIGHTS_PATH
        if not path.is_file():
            raise ConfigurationError("weights", f"no weights file at {path}", "run `wardwatch train alarm-verifier`")
        self.device = pick_device(device)
        self.default_alarm_type = default_alarm_type
        blob: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        if list(blob["feature_names"]) != list(FEATURE_NAMES):
            raise ConfigurationError("weights", f"{path.name} was trained on other evidence features", "retrain: `wardwatch train alarm-verifier`")
        members = []
        for state in blob["members"]:
            net = AlarmNet(len(FEATURE_NAMES), int(blob["hidden"]))
            net.load_state_dict(state)
            members.append(net.double().to(self.device).eval())
        self._ensemble = Ensemble(blob["mean"].double().numpy(), blob["scale"].double().numpy(), members)
        self.thresholds: dict[str, float] = {str(k): float(v) for k, v in blob["thresholds"].items()}
        logger.info("alarm verifier: %d members on %s", len(members), self.device)

    # --- evidence and probabilities -------------------------------------------------------------
    def _types(self, alarm_types: Sequence[str], n: int) -> list[str]:
        types = [str(t) for t in alarm_types]
        if len(types) != n:
            raise ValueError(f"{self.name}: {n} windows but {len(types)} alarm types")
        bad = sorted({t for t in types if t not in ALARM_TYPES})
        if bad:
            raise ValueError(f"{self.name}: unknown alarm type(s) {bad}; expected {', '.join(ALARM_TYPES)}")
        return types

    def probabilities(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(true alarm) for rows of evidence features (:func:`alarm_features` output)."""
        x = torch.as_tensor((np.asarray(features, np.float64) - self._ensemble.mean) / self._ensemble.scale,
                            dtype=torch.float64, device=self.device)
        with torch.inference_mode():
            probs = [torch.sigmoid(net(x)) for net in self._ensemble.members]
            return torch.stack(probs).mean(dim=0).cpu().numpy()

    def verify(self, windows: NDArray[np.floating], alarm_types: Sequence[str]) -> NDArray[np.float64]:
        """P(true alarm) for each window and its alarm type.

        Parameters
        ----------
        windows : ndarray, shape (batch, 4, WINDOW_S * 250)
            See the module docstring; NaN marks missing samples or channels.
        alarm_types : sequence of str
            One of :data:`ALARM_TYPES` per window (the 2015 header spelling).

        Returns
        -------
        ndarray of float64, shape (batch,)
            P(true alarm); NaN where no channel of the window is usable.
        """
        arr = self.check_batch(windows)
        types = self._types(alarm_types, arr.shape[0])
        out = np.full(arr.shape[0], np.nan)
        feats, rows = [], []
        for i, (w, t) in enumerate(zip(arr, types)):
            ev = channel_evidence(w)
            if any(ev[c].get("ok") for c in CHANNELS):
                feats.append(alarm_features(ev, t))
                rows.append(i)
        if rows:
            out[rows] = self.probabilities(np.stack(feats))
        return out

    def score(self, windows: NDArray[np.float32]) -> NDArray[np.float64]:
        """Protocol score: P(true alarm) for ``default_alarm_type``, else the highest over the five types."""
        arr = self.check_batch(windows)
        if self.default_alarm_type is not None:
            return self.verify(arr, [self.default_alarm_type] * arr.shape[0])
        out = np.full(arr.shape[0], np.nan)
        for i, w in enumerate(arr):
            ev = channel_evidence(w)
            if any(ev[c].get("ok") for c in CHANNELS):
                out[i] = float(self.probabilities(np.stack([alarm_features(ev, t) for t in ALARM_TYPES])).max())
        return out

    def decide(self, prob: float, alarm_type: str) -> int:
        """1 = keep the alarm, 0 = suppress it; a window that could not be scored (NaN) is kept."""
        if alarm_type not in self.thresholds:
            raise ValueError(f"{self.name}: unknown alarm type {alarm_type!r}; expected {', '.join(ALARM_TYPES)}")
        return 1 if not np.isfinite(prob) or prob >= self.thresholds[alarm_type] else 0
