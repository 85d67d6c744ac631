"""The committed weights reproduce the result stored with them, from the raw records.

``alarm_verifier.json`` (written by ``wardwatch train alarm-verifier`` together with the
weights) holds the shipped model's decisions on a fixed subset, every 4th of the 374
challenge-2015 records in name order (94 records; in-sample, since the shipped model is fitted
on all records). This test recomputes them from the waveforms through ``AlarmVerifier.verify``
(about 10-30 s) and checks the cross-validated metrics stored beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wardwatch.models.detectors.alarm_net import challenge_score
from wardwatch.models.detectors.alarm_records import read_alarm_type, read_verdicts, read_window
from wardwatch.models.detectors.alarm_verifier import WEIGHTS_PATH, AlarmVerifier

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "challenge2015"
METRICS = WEIGHTS_PATH.with_suffix(".json")
#: Tolerance of the reproduced score (challenge-score points); decisions may differ on at most one record.
TOLERANCE = 1.0


@pytest.fixture(scope="module")
def metrics() -> dict:
    return json.loads(METRICS.read_text())


def test_committed_weights_reproduce_the_stored_subset_result(metrics: dict) -> None:
    if not (DATA / "ALARMS").is_file():
        pytest.fail(f"recordings missing: {DATA.resolve()}")
    check = metrics["check"]
    names = check["records"]
    assert len(names) == 94
    types = [read_alarm_type(DATA / f"{n}.hea") for n in names]
    det = AlarmVerifier(device="cpu")
    probs = det.verify(np.stack([read_window(DATA / n, AlarmVerifier.WINDOW_S) for n in names]), types)
    dec = np.array([det.decide(float(p), t) for p, t in zip(probs, types)])
    truth = read_verdicts(DATA)
    y = np.array([truth[n][1] for n in names])
    assert int(np.sum(dec != np.array(check["decisions"]))) <= 1
    assert abs(challenge_score(dec, y)["score"] - check["score"]) <= TOLERANCE


def test_stored_cross_validation_covers_every_type_and_split(metrics: dict) -> None:
    cv = metrics["cv"]
    assert metrics["records"] == 374 and metrics["repeats"] >= 1
    for key in ("all", "s", "l"):
        assert 0 < cv[key]["score"] <= 100
    assert cv["s"]["n"] + cv["l"]["n"] == 374
    for t in AlarmVerifier.ALARM_TYPES:
        assert cv[f"{t}/all"]["n"] == cv[f"{t}/s"]["n"] + cv[f"{t}/l"]["n"]
