"""``wardwatch eval challenge2015`` end to end on a folder of records whose verdict lines are removed."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from wardwatch.cli import cli
from wardwatch.errors import SchemaValidationError
from wardwatch.models.detectors.alarm_records import read_verdicts, read_window
from wardwatch.models.detectors.alarm_verifier import AlarmVerifier

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "challenge2015"
NAMES = ["a161l", "a705l", "b349l", "f544s", "t107l", "v131l"]


def _copy_without_verdicts(dest: Path, names: list[str]) -> None:
    for name in names:
        hea = DATA / f"{name}.hea"
        if not hea.is_file():
            pytest.fail(f"recording missing: {hea.resolve()}")
        lines = [ln for ln in hea.read_text().splitlines() if ln.strip() not in ("#True alarm", "#False alarm")]
        (dest / f"{name}.hea").write_text("\n".join(lines) + "\n")
        shutil.copy(DATA / f"{name}.mat", dest / f"{name}.mat")


def test_eval_challenge2015_on_records_without_verdicts(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    _copy_without_verdicts(folder, NAMES)
    assert not any("alarm" in p.read_text().lower() for p in folder.glob("*.hea"))
    out = tmp_path / "out" / "decisions.csv"
    result = CliRunner().invoke(cli, ["eval", "challenge2015", "--data", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {len(NAMES)} decisions" in result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["record"] for r in rows] == NAMES
    truth = read_verdicts(DATA)
    assert [r["alarm_type"] for r in rows] == [truth[n][0] for n in NAMES]
    assert all(r["decision"] in ("0", "1") for r in rows)
    # the same decisions as the verifier on the original records
    det = AlarmVerifier(device="cpu")
    probs = det.verify(np.stack([read_window(DATA / n, AlarmVerifier.WINDOW_S) for n in NAMES]), [truth[n][0] for n in NAMES])
    assert [int(r["decision"]) for r in rows] == [det.decide(float(p), truth[n][0]) for p, n in zip(probs, NAMES)]
    # clear-cut cases: a true asystole and a true tachycardia are kept
    decided = {r["record"]: int(r["decision"]) for r in rows}
    assert decided["a161l"] == 1 and decided["t107l"] == 1


def test_eval_challenge2015_names_a_record_without_alarm_type(tmp_path: Path) -> None:
    _copy_without_verdicts(tmp_path, ["a161l"])
    hea = tmp_path / "a161l.hea"
    hea.write_text("\n".join(ln for ln in hea.read_text().splitlines() if not ln.startswith("#")) + "\n")
    result = CliRunner().invoke(cli, ["eval", "challenge2015", "--data", str(tmp_path), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code != 0
    assert isinstance(result.exception, SchemaValidationError)
    assert "a161l" in str(result.exception) and "alarm type" in str(result.exception)
    assert not (tmp_path / "o.csv").exists()
