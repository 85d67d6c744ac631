"""Every query of every Grafana dashboard runs against the real InfluxDB filled by the real pipeline
and returns rows.

A real worker (every agent, the ``influx-alerts`` and ``influx-dead-letters`` sinks included) takes a
scripted acute desaturation (numerics and waveforms) for 240 s, long enough for a high-priority
SpO2 alarm that is still open at the end, its note from the note agent (``alert_notes``), and one
malformed record (a dead letter).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from wardwatch.dashboards.query_check import resolve_variables, run_dashboard_queries

from .conftest import Isolated, WorkerProcess, wait_for

@pytest.fixture
def full_worker(isolated: Isolated, tmp_path: Path) -> Iterator[WorkerProcess]:
    """``wardwatch worker``: every agent, the ``influx-alerts`` and ``influx-dead-letters`` sinks included."""
    proc = WorkerProcess(isolated.env, tmp_path / "worker.log")
    yield proc
    proc.stop()


def test_every_dashboard_query_returns_rows(isolated: Isolated, full_worker: WorkerProcess) -> None:
    start = time.time_ns() - 60 * 10**9
    run = subprocess.run([sys.executable, "-m", "wardwatch", "scenario", "run", "acute-desaturation", "--fast",
                          "--duration", "240"], capture_output=True, text=True, timeout=300, env=isolated.env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka.bootstrap_servers, acks="all")
    producer.send(isolated.topics["numerics"], key=b"p-0123456789abcdef0123", value=b"\xc1 not a record").get(timeout=30)
    producer.close()
    end = time.time_ns() + 600 * 10**9  # --fast runs ahead of the clock
    influx = isolated.influx

    def rows(q: str) -> list[dict]:
        try:
            return influx.query(q + f" AND time >= {start} AND time <= {end}")
        except Exception:  # noqa: BLE001 - not written yet
            return []

    raised = wait_for(lambda: rows('SELECT * FROM "alarm_log" WHERE "event" = \'raised\' AND "source" = \'spo2.low\''),
                      timeout=240, what="the SpO2 alarm in the alarm log")
    open_alarm = wait_for(lambda: rows('SELECT * FROM "alert_state" WHERE "active" = 1'), timeout=60, what="the open alarm in alert_state")
    wait_for(lambda: rows('SELECT * FROM "features" WHERE "source" = \'news2\''), timeout=120, what="NEWS2 in features")
    wait_for(lambda: rows('SELECT * FROM "features" WHERE "source" = \'ppg\''), timeout=120, what="PPG features")
    wait_for(lambda: rows('SELECT * FROM "operations"."dead_letters" WHERE "count" = 1'), timeout=60, what="the dead letter")
    wait_for(lambda: rows('SELECT * FROM "operations"."sink_writes" WHERE "points" > 0'), timeout=60, what="sink statistics")

    alarm = open_alarm[0]
    ward = alarm["ward"]  # the scenario's ward
    notes = wait_for(lambda: rows(f'SELECT * FROM "alert_notes" WHERE "alert_id" = \'{alarm["alert_id"]}\''),
                     timeout=60, what="the note agent's note on the alarm")
    assert notes[0]["patient_ref"] == alarm["patient"] and notes[0]["text"]

    variables = resolve_variables(influx, ward, start, end)
    assert variables["patient_ref"] == alarm["patient"]  # the bed with alarms is picked first
    results = run_dashboard_queries(influx, ward, start, end, variables)
    assert len(results) >= 30
    # a priority with no open alarm has no rows (InfluxQL's count of nothing); the panel shows 0 (noValue)
    zero_ok = {("wardwatch-ward", "panel 'Active alarms by priority' B"), ("wardwatch-ward", "panel 'Active alarms by priority' C")}
    failed = [f"{r.dashboard} {r.what}: {r.error or 'no rows'}\n    {r.query}" for r in results
              if r.error or (not r.rows and (r.dashboard, r.what) not in zero_ok)]
    assert not failed, "\n".join(failed)
    by_what = {(r.dashboard, r.what): r for r in results}
    # the SpO2 alarm is open (the live detectors may have raised another alarm beside it)
    assert by_what[("wardwatch-ward", "panel 'Open alarms' A")].rows >= 1
    assert by_what[("wardwatch-ward", "panel 'Active alarms by priority' A")].rows == 1  # the SpO2 alarm, worsened to high
    assert by_what[("wardwatch-patient", "variable $bed")].rows == 1  # one scripted bed
    assert full_worker.alive()
