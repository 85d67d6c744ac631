"""The README's first command, end to end (the stack is already up): `wardwatch demo`."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict

from wardwatch.streams.signals import VITAL_SIGNS

from .conftest import Isolated


def test_demo_ward_flows_into_influx_and_prints_status(isolated: Isolated) -> None:
    env = dict(isolated.env, WARDWATCH_WARD_PATIENTS="3", WARDWATCH_SCORE_EMIT_EVERY_S="5")
    out = subprocess.run(
        [sys.executable, "-m", "wardwatch", "demo", "--no-stack", "--duration", "30", "--every", "5"],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "first vital sign in InfluxDB after" in text
    assert isolated.settings.influx.url in text and "Where to look" in text
    status_lines = [line for line in text.splitlines() if line.startswith("bed ")]
    assert {line.split()[1] for line in status_lines} == {"01", "02", "03"}
    assert all("HR " in line and "--" not in line.split("(")[0] for line in status_lines[-3:])
    # the simulator charts air and ACVPU A on admission, so NEWS2 is complete, and a stable ward scores low
    assert all(" NEWS2 " in line and "partial" not in line and " low" in line for line in status_lines[-3:])

    rows = isolated.influx.query('SELECT count("value") FROM "vitals" GROUP BY "patient", "signal"')
    seen: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        seen[row["patient"]].add(row["signal"])
        assert row["count"] >= 1
    assert len(seen) == 3
    assert all(signals == set(VITAL_SIGNS) for signals in seen.values())
    news2 = isolated.influx.query('SELECT last("news2.total") AS total, last("news2.missing") AS missing FROM "features" '
                                  'WHERE "source" = \'news2\' GROUP BY "patient"')
    assert len(news2) == 3 and all(row["missing"] == 0 and 0 <= row["total"] <= 20 for row in news2)
