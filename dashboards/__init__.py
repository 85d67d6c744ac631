"""What nurses look at: the ward status lines now; Grafana dashboards and the ward page later (issue 8)."""

from wardwatch.dashboards.ward_status import format_line, latest_vitals, ward_status

__all__ = ["ward_status", "latest_vitals", "format_line"]
