"""Waveforms to derived values through real Kafka and a real worker: a scripted bradycardia
scenario's ECG, PPG and respiration waves give the heart, pulse and breathing rates that its
numerics say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import Isolated, WorkerProcess, wait_for


def test_scenario_waveforms_give_the_rates_of_its_numerics(isolated: Isolated, worker: WorkerProcess, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "wardwatch", "scenario", "run", "bradycardia", "--fast", "--duration", "90",
         "--labels", str(tmp_path / "labels.jsonl")],
        capture_output=True, text=True, timeout=300, env=isolated.env,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]

    def last(query: str) -> dict | None:
        # --fast runs ahead of the clock: without an explicit upper bound InfluxQL stops at now()
        if "time >" not in query:
            query += " AND time > now() - 1h AND time < now() + 1h"
        try:
            rows = isolated.influx.query(query)
        except Exception:  # database not created yet
            return None
        return rows[0] if rows else None

    def derived() -> dict | None:
        # one selector per query: its row carries the point's own time
        row = last('SELECT last("ecg.hr_bpm") AS hr FROM "features" WHERE "source" = \'ecg\'')
        if not row or row["time"] < end_ns - 15 * 10**9:
            return None
        sqi = last('SELECT last("ecg.sqi") AS sqi FROM "features" WHERE "source" = \'ecg\'')
        return {**row, "sqi": sqi["sqi"] if sqi else None}

    def all_vitals() -> dict | None:
        count = last('SELECT count("value") AS n FROM "vitals" WHERE "signal" = \'MDC_ECG_HEART_RATE\'')
        if not count or count["n"] < 85:  # 90 s of scenario, one heart rate a second
            return None
        return last('SELECT last("value") AS v FROM "vitals" WHERE "signal" = \'MDC_ECG_HEART_RATE\'')

    vitals = wait_for(all_vitals, timeout=120, what="the scenario's 90 s of heart rate in InfluxDB")
    end_ns = vitals["time"]
    ecg = wait_for(derived, timeout=180, what="ECG-derived heart rate at the end of the scenario")
    hr_numeric = last('SELECT mean("value") AS v FROM "vitals" WHERE "signal" = \'MDC_ECG_HEART_RATE\' '
                      f'AND time > {end_ns - 10 * 10**9} AND time <= {end_ns}')["v"]
    assert abs(ecg["hr"] - hr_numeric) <= 4, (ecg, hr_numeric)
    assert ecg["sqi"] >= 0.8  # a clean simulated ECG

    ppg = wait_for(lambda: last('SELECT last("ppg.pulse_rate_bpm") AS pr, last("ppg.sqi") AS sqi FROM "features" WHERE "source" = \'ppg\''),
                   timeout=60, what="PPG-derived pulse rate")
    assert abs(ppg["pr"] - hr_numeric) <= 4, (ppg, hr_numeric)
    resp = wait_for(lambda: last('SELECT last("resp.rr_bpm") AS rr FROM "features" WHERE "source" = \'resp\''),
                    timeout=60, what="respiration rate from the RESP wave")
    rr_numeric = last('SELECT mean("value") AS v FROM "vitals" WHERE "signal" = \'MDC_RESP_RATE\' '
                      f'AND time > {end_ns - 60 * 10**9} AND time <= {end_ns}')["v"]
    assert abs(resp["rr"] - rr_numeric) <= 3, (resp, rr_numeric)
    assert worker.alive(), worker.output()[-3000:]


def test_lead_off_on_the_ecg_wave_raises_a_technical_alarm(isolated: Isolated, worker: WorkerProcess) -> None:
    from kafka import KafkaConsumer

    from wardwatch.streams.codec import decode
    from wardwatch.streams.records import Alert

    # the scenario's lead comes off at 60 s
    run = subprocess.run([sys.executable, "-m", "wardwatch", "scenario", "run", "lead-off", "--fast", "--duration", "100"],
                         capture_output=True, text=True, timeout=300, env=isolated.env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    consumer = KafkaConsumer(isolated.topics["alerts"], bootstrap_servers=isolated.settings.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=500, group_id=None)
    alerts: list[Alert] = []

    def lead_off() -> list[Alert]:
        alerts.extend(decode(m.value, Alert) for m in consumer)
        return [a for a in alerts if a.source == "ecg.lead_off"]

    found = wait_for(lead_off, timeout=120, what="the ECG lead-off alarm")
    consumer.close()
    assert all(a.kind == "technical" for a in found)
