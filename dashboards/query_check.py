"""Run every query of WardWatch's dashboards against a real InfluxDB, as Grafana would.

Template variables are resolved the way Grafana resolves them: the ward is given, ``$bed`` and
``$patient_ref`` come from their own variable queries (the bed with the most alarm-log entries
first, so that the alarm panels have something to show), unless given explicitly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wardwatch.agents.influx import InfluxWriter
from wardwatch.dashboards.grafana_dashboards import DASHBOARDS, dashboard_json, panel_queries
from wardwatch.dashboards.panels import render_query

__all__ = ["QueryResult", "resolve_variables", "run_dashboard_queries"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryResult:
    """One query of one dashboard: how many rows it returned, or its error."""

    dashboard: str
    what: str
    query: str
    rows: int
    error: str = ""


def _values(writer: InfluxWriter, query: str) -> list[str]:
    return [str(row["value"]) for row in writer.query(query)]


def resolve_variables(writer: InfluxWriter, ward: str, start_ns: int, end_ns: int) -> dict[str, str]:
    """``ward``, ``bed`` and ``patient_ref`` as the patient dashboard's variables would offer them."""
    variables = {"ward": ward}
    doc = dashboard_json(DASHBOARDS["wardwatch-patient"]())
    queries = {v["name"]: v["query"] for v in doc["templating"]["list"]}
    beds = _values(writer, render_query(queries["bed"], variables, start_ns, end_ns))
    counts = {str(r.get("bed")): int(r.get("count", 0)) for r in writer.query(render_query(
        'SELECT count("alert_id") FROM "alarm_log" WHERE "ward" =~ /^$ward$/ AND $timeFilter GROUP BY "bed"',
        variables, start_ns, end_ns))} if beds else {}
    beds.sort(key=lambda b: -counts.get(b, 0))
    variables["bed"] = beds[0] if beds else ""
    refs = _values(writer, render_query(queries["patient_ref"], variables, start_ns, end_ns)) if beds else []
    variables["patient_ref"] = refs[0] if refs else ""
    return variables


def run_dashboard_queries(writer: InfluxWriter, ward: str, start_ns: int, end_ns: int,
                          variables: dict[str, str] | None = None, interval_s: int = 10) -> list[QueryResult]:
    """Run every panel, variable and annotation query of every dashboard over ``[start_ns, end_ns]``."""
    chosen = variables or resolve_variables(writer, ward, start_ns, end_ns)
    results = []
    for uid, build in DASHBOARDS.items():
        for what, query in panel_queries(dashboard_json(build())):
            sql = render_query(query, chosen, start_ns, end_ns, interval_s)
            try:
                rows = len(writer.query(sql))
                results.append(QueryResult(uid, what, sql, rows))
            except Exception as exc:  # noqa: BLE001 - reported per query
                results.append(QueryResult(uid, what, sql, 0, f"{type(exc).__name__}: {str(exc)[:300]}"))
    return results
