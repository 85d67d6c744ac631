"""The alarm verifier's network and its fitting: a small MLP ensemble over evidence features.

:class:`AlarmNet` is a two-layer perceptron on standardised evidence features
(:data:`~wardwatch.models.detectors.alarm_evidence.FEATURE_NAMES`); the verifier averages the
probabilities of :data:`N_MEMBERS` of them, each trained from its own seed. :func:`fit` trains an
ensemble on a feature matrix; :func:`predict` applies one; :func:`pick_thresholds` chooses the
per-type decision thresholds from out-of-fold probabilities: the lowest challenge cost
(FP + 5·FN) among those keeping at least ``min_tpr`` of the type's true alarms;
:func:`challenge_score` is the 2015 challenge's score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

__all__ = ["AlarmNet", "Ensemble", "N_MEMBERS", "HIDDEN", "fit", "predict", "pick_thresholds", "challenge_score"]

logger = logging.getLogger(__name__)

N_MEMBERS = 5
HIDDEN = 32
EPOCHS = 100
LR = 0.01
WEIGHT_DECAY = 1e-3
DROPOUT = 0.2
#: Loss weight of a true alarm: missing one costs five times a false alarm in the challenge score.
POS_WEIGHT = 2.0


class AlarmNet(nn.Module):
    """features -> hidden (ReLU, dropout) -> logit of P(true alarm)."""

    def __init__(self, n_features: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


@dataclass
class Ensemble:
    """Standardisation constants and the member networks (all on one device)."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    members: list[AlarmNet]


def fit(x: NDArray[np.float64], y: NDArray[np.int64], seed: int, n_members: int = N_MEMBERS) -> Ensemble:
    """Train an ensemble on features ``x`` (n, F) and verdicts ``y`` (n,) on the CPU."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    xt = torch.as_tensor((x - mean) / scale, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    members = []
    for m in range(n_members):
        torch.manual_seed(seed * 1000 + m)
        net = AlarmNet(x.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(POS_WEIGHT))
        net.train()
        for _ in range(EPOCHS):
            opt.zero_grad()
            loss = loss_fn(net(xt), yt)
            loss.backward()
            opt.step()
        net.eval()
        members.append(net)
    return Ensemble(mean, scale, members)


def predict(ens: Ensemble, x: NDArray[np.float64], device: torch.device | None = None) -> NDArray[np.float64]:
    """Mean member probability of a true alarm for each row of ``x``."""
    dev = device or torch.device("cpu")
    xt = torch.as_tensor((x - ens.mean) / ens.scale, dtype=torch.float32, device=dev)
    with torch.inference_mode():
        probs = torch.stack([torch.sigmoid(net(xt)) for net in ens.members]).mean(dim=0)
    return probs.double().cpu().numpy()


def pick_thresholds(prob: NDArray[np.float64], y: NDArray[np.int64], types: Sequence[str],
                    alarm_types: Sequence[str], min_tpr: float = 0.95) -> dict[str, float]:
    """Per-type thresholds with the lowest challenge cost FP + 5·FN that keep ``min_tpr`` of true alarms.

    Candidates are the midpoints between successive distinct probabilities of the type (and
    below the lowest); among those keeping at least ``min_tpr`` of the type's true alarms, the one
    with the lowest cost wins, ties going to the highest threshold. A type without true alarms
    keeps everything (threshold 0).
    """
    types_arr = np.asarray(types)
    out = {}
    for t in alarm_types:
        sel = types_arr == t
        p, yt = prob[sel], y[sel]
        if not np.any(yt == 1):
            out[t] = 0.0
            continue
        u = np.unique(p)
        cands = np.concatenate([[u[0] * 0.5], 0.5 * (u[1:] + u[:-1]), [u[-1] * 0.5 + 0.5]])
        best, best_cost = 0.0, np.inf
        for c in cands:
            keep = p >= c
            tp, fn = int(np.sum(keep & (yt == 1))), int(np.sum(~keep & (yt == 1)))
            if tp / (tp + fn) < min_tpr:
                continue
            cost = int(np.sum(keep & (yt == 0))) + 5 * fn
            if cost < best_cost or (cost == best_cost and c > best):
                best, best_cost = float(c), cost
        out[t] = best
    return out


def challenge_score(decision: NDArray[np.int64], y: NDArray[np.int64]) -> dict[str, float]:
    """The 2015 score (TP+TN)/(TP+TN+FP+5·FN)·100, with TPR, TNR and the counts."""
    tp = int(np.sum((decision == 1) & (y == 1)))
    tn = int(np.sum((decision == 0) & (y == 0)))
    fp = int(np.sum((decision == 1) & (y == 0)))
    fn = int(np.sum((decision == 0) & (y == 1)))
    den = tp + tn + fp + 5 * fn
    return {"score": 100.0 * (tp + tn) / den if den else float("nan"),
            "tpr": tp / (tp + fn) if tp + fn else float("nan"), "tnr": tn / (tn + fp) if tn + fp else float("nan"),
            "tp": tp, "tn": tn, "fp": fp, "fn": fn, "n": tp + tn + fp + fn}
