"""The deterioration detector: 30 minutes of vital signs, NEWS2 sub-scores and trends → P(worsening).

Input: one row per minute of event time, :data:`FEATURES` (``input.*``: the vital signs NEWS2 was
computed from; ``news2.*``: total and sub-scores; ``*.deviation`` and ``*.slope_1h_per_h``: the
trends), as the score agent emits them (Features sources ``news2`` and ``trends``). A window is the
last :data:`WINDOW_MIN` rows, oldest first, shape ``(30, 23)``; NaN where a value was not measured
(the model sees a mask). :class:`MinuteWindows` turns one patient's Features stream into windows;
the detect agent and the training script both use it, so training and serving see the same rows.

The model (:func:`build_net`): values centred and scaled by fixed constants, NaN → 0 plus a
0/1 mask per value, a one-layer GRU (32 units) over the 30 rows, a linear head → probability.
Weights: ``weights/deterioration.pt`` (+ ``.json`` with the metrics), made by
``wardwatch train deterioration``; model card ``cards/deterioration.md``.

>>> import numpy as np
>>> det = DeteriorationDetector(device="cpu")
>>> det.score(np.full((2, WINDOW_MIN, len(FEATURES)), np.nan, np.float32))  # nothing measured
array([nan, nan])
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from wardwatch.errors import ConfigurationError
from wardwatch.models.detectors.base import Detector, pick_device
from wardwatch.streams.records import Features

__all__ = ["FEATURES", "WINDOW_MIN", "SOURCES", "FEATURE_NAME", "WEIGHTS", "MinuteWindows", "DeteriorationDetector", "build_net"]

logger = logging.getLogger(__name__)

_VITALS = ("hr", "rr", "spo2", "sbp", "temp")
#: (feature name, centre, scale): ``(x - centre) / scale`` is what the model reads.
_SPEC: tuple[tuple[str, float, float], ...] = (
    ("input.pulse_per_min", 80.0, 20.0), ("input.rr_per_min", 16.0, 6.0), ("input.spo2_pct", 95.0, 4.0),
    ("input.sbp_mmhg", 120.0, 25.0), ("input.temp_c", 37.0, 0.8),
    ("news2.total", 3.0, 3.0), ("news2.respiration_rate", 0.0, 3.0), ("news2.spo2", 0.0, 3.0),
    ("news2.air_or_oxygen", 0.0, 2.0), ("news2.systolic_bp", 0.0, 3.0), ("news2.pulse", 0.0, 3.0),
    ("news2.consciousness", 0.0, 3.0), ("news2.temperature", 0.0, 3.0),
    *((f"{v}.deviation", 0.0, s) for v, s in zip(_VITALS, (15.0, 5.0, 3.0, 20.0, 0.7))),
    *((f"{v}.slope_1h_per_h", 0.0, s) for v, s in zip(_VITALS, (20.0, 6.0, 4.0, 25.0, 1.0))),
)
#: The per-minute values a window holds, in column order.
FEATURES: tuple[str, ...] = tuple(name for name, _, _ in _SPEC)
CENTRE = np.array([c for _, c, _ in _SPEC], dtype=np.float32)
SCALE = np.array([s for _, _, s in _SPEC], dtype=np.float32)
#: Minutes in one window.
WINDOW_MIN = 30
#: Features sources the windows are built from.
SOURCES = frozenset({"news2", "trends"})
#: The feature the detect agent emits (and the alarm rule reads).
FEATURE_NAME = "detector.deterioration"
WEIGHTS = Path(__file__).resolve().parent / "weights" / "deterioration.pt"
_MINUTE_NS = 60_000_000_000
_COLUMN = {name: i for i, name in enumerate(FEATURES)}


class MinuteWindows:
    """One patient's minute rows; :meth:`update` returns a window each time a minute closes.

    The newest value of each feature within a minute is its row's value. A minute closes when a
    Features record of a later minute arrives; the window returned then ends with that minute
    (silent minutes in between are NaN rows). Records of an earlier minute than the open one are
    ignored, so records processed again after a restart change nothing. State: :meth:`to_state`.

    >>> w = MinuteWindows()
    >>> t0 = 1_790_000_000_000_000_000
    >>> w.update(Features(patient_ref="p-0123456789abcdef0123", ward="w", bed="1", timestamp_ns=t0,
    ...                   source="news2", values={"news2.total": 2.0})) is None
    True
    >>> win = w.update(Features(patient_ref="p-0123456789abcdef0123", ward="w", bed="1",
    ...                timestamp_ns=t0 + 60 * 10**9, source="news2", values={"news2.total": 3.0}))
    >>> win.shape, float(win[-1, FEATURES.index("news2.total")])
    ((30, 23), 2.0)
    """

    def __init__(self) -> None:
        self.minute: int | None = None
        self.current = np.full(len(FEATURES), np.nan, np.float32)
        self.rows = np.full((WINDOW_MIN, len(FEATURES)), np.nan, np.float32)

    def update(self, features: Features) -> NDArray[np.float32] | None:
        """Take one Features record; return the window that closed with it, if one did."""
        if features.source not in SOURCES:
            return None
        minute = features.timestamp_ns // _MINUTE_NS
        out = None
        if self.minute is None:
            self.minute = minute
        elif minute < self.minute:
            return None  # older than the open minute: a replay, or out of order
        elif minute > self.minute:
            gap = int(minute - self.minute)
            if gap > WINDOW_MIN:  # silent for longer than a window: nothing of it is left
                self.rows[:] = np.nan
            else:
                self.rows = np.roll(self.rows, -gap, axis=0)
                self.rows[-gap:] = np.nan
                self.rows[-gap] = self.current
            out = self.rows.copy()
            self.minute = minute
            self.current = np.full(len(FEATURES), np.nan, np.float32)
        for name, value in features.values.items():
            col = _COLUMN.get(name)
            if col is not None and value is not None and math.isfinite(value):
                self.current[col] = value
        return out

    def to_state(self) -> dict[str, Any]:
        return {"minute": self.minute, "current": self.current.tobytes(), "rows": self.rows.tobytes(), "features": len(FEATURES)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "MinuteWindows":
        w = cls()
        if state.get("features") != len(FEATURES):
            return w  # written by another version of the feature list: start afresh
        w.minute = state["minute"]
        w.current = np.frombuffer(state["current"], np.float32).copy()
        w.rows = np.frombuffer(state["rows"], np.float32).reshape(WINDOW_MIN, len(FEATURES)).copy()
        return w


def build_net(hidden: int = 32) -> Any:
    """The torch module: ``(batch, 30, 23)`` float windows (NaN allowed) → ``(batch,)`` logits."""
    import torch
    from torch import nn

    class DeteriorationNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("centre", torch.from_numpy(CENTRE.copy()))
            self.register_buffer("scale", torch.from_numpy(SCALE.copy()))
            self.gru = nn.GRU(2 * len(FEATURES), hidden, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mask = torch.isfinite(x)
            z = torch.where(mask, (x - self.centre) / self.scale, torch.zeros_like(x)).clamp(-6.0, 6.0)
            out, _ = self.gru(torch.cat([z, mask.to(z.dtype)], dim=-1))
            return self.head(out[:, -1]).squeeze(-1)

    return DeteriorationNet()


class DeteriorationDetector(Detector):
    """P(the patient is deteriorating) from a 30-minute window of minute rows (:data:`FEATURES`).

    Parameters
    ----------
    weights : path, optional
        A state dict written by ``wardwatch train deterioration`` (default: the shipped weights).
    device : {"auto", "cpu", "cuda"}
        Where the model runs (``WARDWATCH_DETECT_DEVICE``).
    min_rows : int
        Windows with fewer minutes holding any value than this score NaN (cannot tell).
    """

    name: ClassVar[str] = "deterioration"
    window_shape: ClassVar[tuple[int, ...]] = (WINDOW_MIN, len(FEATURES))
    description: ClassVar[str] = "P(deteriorating) from 30 min of vital signs, NEWS2 sub-scores and trends"

    def __init__(self, weights: str | Path | None = None, device: str = "auto", min_rows: int = 5) -> None:
        import torch

        if not 1 <= min_rows <= WINDOW_MIN:
            raise ConfigurationError("min_rows", f"got {min_rows}", f"use 1 to {WINDOW_MIN}")
        path = Path(weights) if weights is not None else WEIGHTS
        if not path.is_file():
            raise ConfigurationError("deterioration weights", f"{path} does not exist", "run `wardwatch train deterioration`")
        self.device = pick_device(device)
        self.min_rows = min_rows
        self.net = build_net()
        self.net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.net.to(self.device).eval()
        meta = path.with_suffix(".json")
        self.meta: dict[str, Any] = json.loads(meta.read_text()) if meta.is_file() else {}

    def score(self, windows: NDArray[np.float32]) -> NDArray[np.float64]:
        import torch

        x = self.check_batch(windows)
        out = np.full(x.shape[0], np.nan)
        enough = np.isfinite(x).any(axis=2).sum(axis=1) >= self.min_rows
        if enough.any():
            with torch.inference_mode():
                logits = self.net(torch.from_numpy(x[enough]).to(self.device))
                out[enough] = torch.sigmoid(logits).double().cpu().numpy()
        return out
