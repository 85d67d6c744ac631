"""The MIMIC-II minute numerics (32 h of one ICU stay) replayed through the real pipeline give, in
InfluxDB, the NEWS2 series the pure scoring code computes from the same records."""

from __future__ import annotations

import subprocess
import sys
import time

from wardwatch.agents.app import scoring_config
from wardwatch.models.scoring import PatientScorer
from wardwatch.streams.adapters.wfdb_replay import WfdbReplay
from wardwatch.streams.records import NumericObservation

from ..conftest import TEST_SECRET
from .conftest import Isolated, WorkerProcess, wait_for

RECORD = "mimic-mitdb/s00001-2896-10-10-00-31n"


def test_mimic_numerics_replay_gives_the_pure_news2_series(isolated: Isolated, worker: WorkerProcess) -> None:
    start_ns = (time.time_ns() // 10**9 - 40 * 3600) * 10**9  # the stay ends a few hours ago
    ward = isolated.settings.ward.name
    replay = WfdbReplay.open(RECORD, patient_secret=TEST_SECRET.encode(), start_ns=start_ns, ward=ward, bed="12")
    records = [r for _, batch in replay.batches() for r in batch if isinstance(r, NumericObservation)]
    assert len(records) > 5000
    scorer = PatientScorer(records[0].patient_ref, ward, "12", scoring_config(isolated.settings))
    expected = {f.timestamp_ns: f for r in records for f in scorer.observe(r) if f.source == "news2"}
    assert len(expected) > 1800

    run = subprocess.run(
        [sys.executable, "-m", "wardwatch", "replay", RECORD, "--fast", "--start", str(start_ns), "--bed", "12"],
        capture_output=True, text=True, timeout=600, env=isolated.env,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]

    def series() -> list[dict] | None:
        try:
            rows = isolated.influx.query('SELECT "news2.total", "news2.missing", "news2.spo2", "news2.pulse", '
                                         '"news2.respiration_rate", "news2.systolic_bp" FROM "features" WHERE "source" = \'news2\'')
        except Exception:
            return None
        return rows if len(rows) >= len(expected) else None

    rows = wait_for(series, timeout=300, what=f"{len(expected)} NEWS2 evaluations in InfluxDB")
    got = {row["time"]: row for row in rows}
    assert set(got) == set(expected)
    for ts, feature in expected.items():
        row = got[ts]
        for name in ("news2.total", "news2.missing", "news2.spo2", "news2.pulse", "news2.respiration_rate", "news2.systolic_bp"):
            assert row[name] == feature.values.get(name), (ts, name, row[name], feature.values.get(name))
    totals = [f.values["news2.total"] for f in expected.values()]
    assert max(totals) > min(totals)  # a real trend stream, not a constant
