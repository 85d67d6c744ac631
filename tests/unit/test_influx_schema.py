"""The InfluxDB points WardWatch writes beyond vitals/features, retention routing and settings."""

from __future__ import annotations

import pytest

from wardwatch.agents.influx import RETENTION_POLICY_OF, alert_to_point, dead_letter_to_point
from wardwatch.config import InfluxSettings
from wardwatch.streams.records import Alert, alert_id

REF, T = "p-0123456789abcdef0123", 1_767_225_600_000_000_000


def _alert(state: str) -> Alert:
    return Alert(alert_id=alert_id(REF, "spo2.low", T), patient_ref=REF, ward="ward-a", bed="07", kind="physiological",
                 priority="high", source="spo2.low", onset_ns=T, updated_ns=T + 5, state=state)  # type: ignore[arg-type]


@pytest.mark.parametrize(("state", "active"), [("active", 1), ("escalated", 1), ("acknowledged", 0), ("resolved", 0)])
def test_alert_state_point(state: str, active: int) -> None:
    p = alert_to_point(_alert(state))
    assert p["measurement"] == "alert_state" and p["time"] == T + 5
    assert p["tags"] == {"ward": "ward-a", "bed": "07", "patient": REF, "kind": "physiological",
                         "alert_id": alert_id(REF, "spo2.low", T)}
    assert p["fields"]["priority"] == "high"  # a field: a worsening alarm stays one series
    assert p["fields"]["active"] == active and p["fields"]["state"] == state and p["fields"]["onset_ns"] == T


def test_dead_letter_point_keeps_no_reason_or_payload() -> None:
    p = dead_letter_to_point("adapter:hl7", "numerics", "$.value", T)
    assert p == {"measurement": "dead_letters", "tags": {"stage": "adapter:hl7", "source": "numerics"},
                 "fields": {"count": 1, "field": "$.value"}, "time": T}
    assert dead_letter_to_point("", "", "$", 0)["tags"] == {"stage": "unknown", "source": "unknown"}


def test_retention_routing() -> None:
    assert RETENTION_POLICY_OF == {"waveforms": "waveforms", "sink_writes": "operations", "dead_letters": "operations"}


def test_retention_settings() -> None:
    s = InfluxSettings()
    assert (s.retention_clinical, s.retention_waveforms, s.retention_operations, s.manage_retention) == ("365d", "24h", "14d", True)
    assert InfluxSettings(retention_clinical="inf").retention_clinical == "INF"
    for bad in ("30 days", "0d", "10m", ""):
        with pytest.raises(ValueError, match="InfluxQL duration"):
            InfluxSettings(retention_waveforms=bad)
