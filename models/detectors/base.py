"""The detector protocol: a batch of windows in, one score per window out.

A detector is a torch model (or a torch model plus signal-processing evidence) behind one
interface, so the detect agent can batch windows of many patients into one call::

    >>> import numpy as np
    >>> from wardwatch.models.detectors import get_detector
    >>> det = get_detector("deterioration")          # doctest: +SKIP
    >>> scores = det.score(np.zeros((4, *det.window_shape), np.float32))  # doctest: +SKIP
    >>> scores.shape                                   # doctest: +SKIP
    (4,)

Rules every detector follows (CONVENTIONS.md 6):

- ``score(windows)`` takes an array of shape ``(batch, *window_shape)`` and returns a float array of
  shape ``(batch,)``; higher means more anomalous / more likely a true alarm; NaN where a window
  cannot be scored (all-NaN, too short);
- the device is chosen once, in the constructor (:func:`pick_device`: CUDA when present, else CPU);
- inference runs under ``model.eval()`` and ``torch.inference_mode()``;
- configuration is validated in the constructor and errors name the setting;
- weights ship in the package next to a model card; nothing is downloaded.
"""

from __future__ import annotations

import abc
import logging
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from wardwatch.errors import ConfigurationError

__all__ = ["Detector", "pick_device"]

logger = logging.getLogger(__name__)


def pick_device(prefer: str = "auto") -> Any:
    """The torch device detectors run on: ``cuda`` when present (or asked for), else ``cpu``.

    ``prefer`` is ``auto``, ``cpu`` or ``cuda``; asking for ``cuda`` where there is none raises
    :class:`~wardwatch.errors.ConfigurationError` naming ``WARDWATCH_DETECT_DEVICE``.
    """
    import torch

    if prefer not in {"auto", "cpu", "cuda"}:
        raise ConfigurationError("WARDWATCH_DETECT_DEVICE", f"got {prefer!r}", "use auto, cpu or cuda")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError("WARDWATCH_DETECT_DEVICE", "cuda asked for but torch sees no CUDA device", "use auto or cpu")
    if prefer == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


class Detector(abc.ABC):
    """Base class of every detector: subclasses set the class attributes and implement ``score``."""

    #: Registry name (``wardwatch.detectors`` entry point name for third-party detectors).
    name: ClassVar[str]
    #: Shape of one window, without the batch axis, e.g. ``(channels, samples)``.
    window_shape: ClassVar[tuple[int, ...]]
    #: What the score means, one line (shown by ``wardwatch detectors list``).
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def score(self, windows: NDArray[np.float32]) -> NDArray[np.float64]:
        """One score per window (shape ``(batch,)``), higher = more anomalous / more likely true."""

    def check_batch(self, windows: NDArray[Any]) -> NDArray[np.float32]:
        """Validate a batch's shape and return it as C-contiguous float32 (helper for ``score``)."""
        arr = np.ascontiguousarray(windows, dtype=np.float32)
        if arr.ndim != len(self.window_shape) + 1 or tuple(arr.shape[1:]) != tuple(self.window_shape):
            raise ValueError(f"{self.name}: windows must have shape (batch, {', '.join(map(str, self.window_shape))}); got {arr.shape}")
        return arr
