from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from wardwatch.cli import cli
from wardwatch.models.signal import detect_qrs, match_beats

from .conftest import need


def test_eval_qrs_on_mitdb_100_writes_the_detectors_beats(tmp_path: Path, mitdb100: tuple, mitdb100_path: str) -> None:
    out = tmp_path / "peaks.txt"
    result = CliRunner().invoke(cli, ["eval", "qrs", mitdb100_path, "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = np.array([int(line) for line in out.read_text().split()])
    x, fs, ref = mitdb100
    assert np.array_equal(written, detect_qrs(x, fs))  # 1-s chunks give the whole-record beats
    m = match_beats(ref, written, tol=int(0.15 * fs))
    assert m.sensitivity > 0.995 and m.positive_predictivity > 0.995
    assert f"{written.size} R peaks" in result.output


def test_eval_qrs_reads_a_cpsc2019_mat_with_fs(tmp_path: Path) -> None:
    from scipy.io import loadmat

    mat = need("cpsc2019/data/data_00014.mat")
    out = tmp_path / "p.txt"
    result = CliRunner().invoke(cli, ["eval", "qrs", str(mat), "--fs", "500", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ecg = loadmat(str(mat))["ecg"].ravel()
    assert [int(v) for v in out.read_text().split()] == detect_qrs(ecg, 500.0).tolist()


def test_eval_qrs_errors_name_what_is_wrong(tmp_path: Path, mitdb100_path: str) -> None:
    runner = CliRunner()
    out = str(tmp_path / "x.txt")
    r = runner.invoke(cli, ["eval", "qrs", str(tmp_path / "nope"), "--out", out])
    assert r.exit_code == 2 and "RECORD" in r.output and "nope.hea" in r.output
    r = runner.invoke(cli, ["eval", "qrs", mitdb100_path, "--channel", "V9", "--out", out])
    assert r.exit_code == 2 and "--channel" in r.output and "'MLII', 'V5'" in r.output
    mat = str(need("cpsc2019/data/data_00014.mat"))
    r = runner.invoke(cli, ["eval", "qrs", mat, "--out", out])
    assert r.exit_code == 2 and "--fs" in r.output and "required" in r.output
    r = runner.invoke(cli, ["eval", "qrs", mat, "--fs", "500", "--channel", "lead2", "--out", out])
    assert r.exit_code == 2 and "--channel" in r.output and "'ecg'" in r.output
    r = runner.invoke(cli, ["eval", "qrs", mitdb100_path, "--fs", "250", "--out", out])
    assert r.exit_code == 2 and "--fs" in r.output and "360" in r.output
    assert not Path(out).exists()
