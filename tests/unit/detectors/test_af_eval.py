"""``wardwatch eval af`` end to end (CliRunner) and the shipped weights against their stated metrics."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.io import loadmat, savemat

from wardwatch.cli import cli
from wardwatch.models.detectors.af import WEIGHTS_PATH, AFDetector, labels_from_proba
from wardwatch.models.detectors.af_eval import read_cinc_record, record_proba
from wardwatch.models.detectors.af_train import f1_scores

from .test_af_detector import need

#: The AF F1 the shipped weights must reach on all 200 CinC 2017 records, within this tolerance.
F1_TOLERANCE = 0.02


def read_labels(path: Path) -> dict[str, str]:
    with path.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["record", "label"]
    return dict(rows[1:])


def test_eval_af_labels_every_record_even_broken_ones(tmp_path: Path) -> None:
    data = tmp_path / "records"
    data.mkdir()
    for name in ("A00002", "A00009", "A00005"):  # N, A, O in REFERENCE.csv
        shutil.copy(need(f"cinc2017/{name}.mat"), data)
    val = loadmat(str(need("cinc2017/A00002.mat")))["val"]
    savemat(str(data / "T00001.mat"), {"val": val[:, :600]})  # truncated: 2 s
    savemat(str(data / "T00002.mat"), {"other": np.zeros(3)})  # no 'val'
    (data / "T00003.mat").write_bytes(b"not a MATLAB file")
    savemat(str(data / "T00004.mat"), {"val": np.zeros((1, 9000))})  # flat line
    (data / "notes.txt").write_text("ignored")
    out = tmp_path / "out" / "labels.csv"

    result = CliRunner().invoke(cli, ["eval", "af", "--data", str(data), "--out", str(out)])

    assert result.exit_code == 0, result.output
    labels = read_labels(out)
    assert sorted(labels) == ["A00002", "A00005", "A00009", "T00001", "T00002", "T00003", "T00004"]
    assert all(v in {"N", "A", "O", "~"} for v in labels.values())
    for bad in ("T00001", "T00002", "T00003", "T00004"):
        assert labels[bad] == "~"
        assert f"warning: {bad}" in result.output
    assert labels["A00009"] == "A"  # a clear AF record
    assert "wrote 7 labels" in result.output


def test_eval_af_on_an_empty_folder_writes_only_the_header(tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(cli, ["eval", "af", "--data", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_labels(out) == {}
    assert "no .mat records" in result.output


def test_shipped_weights_reach_their_stated_af_f1_on_cinc2017() -> None:
    """All 200 CinC 2017 records (the training data: this guards the shipped weights and the feature
    code against drift; the honest, cross-validated numbers are in the model card)."""
    t0 = time.perf_counter()
    stated = json.loads(WEIGHTS_PATH.with_name("af.metrics.json").read_text())["training_set_refit"]["cinc2017"]
    folder = need("cinc2017")
    ref = dict(csv.reader((folder / "REFERENCE.csv").open()))
    det = AFDetector(device="cpu")
    names = sorted(ref)
    pred = []
    for name in names:
        proba = record_proba(det, read_cinc_record(folder / f"{name}.mat"))
        pred.append(labels_from_proba(proba[None])[0])
    f1 = f1_scores([ref[n] for n in names], pred)
    assert f1["A"] >= stated["af_f1"] - F1_TOLERANCE
    assert f1["A"] > 0.8
    assert np.mean([f1["N"], f1["A"], f1["O"]]) >= stated["cinc2017_score_mean_f1_NAO"] - F1_TOLERANCE
    assert time.perf_counter() - t0 < 60
