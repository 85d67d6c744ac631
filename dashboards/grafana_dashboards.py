"""WardWatch's Grafana dashboards as code (grafanalib, InfluxQL): ward overview, patient detail, operations.

Each builder returns a :class:`grafanalib.core.Dashboard`; :func:`dashboard_json` turns one into
the JSON Grafana imports, :func:`export_all` writes them all, and :func:`panel_queries` lists every
query (panels, template variables, annotations) so that tests run each against a real InfluxDB.
Measurements and their tags are those of ``docs/influxdb-schema.md``.

>>> sorted(DASHBOARDS)
['wardwatch-operations', 'wardwatch-patient', 'wardwatch-ward']
>>> doc = dashboard_json(DASHBOARDS["wardwatch-ward"]())
>>> doc["uid"], doc["title"]
('wardwatch-ward', 'WardWatch - ward overview')
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Annotations, Dashboard, Template, Templating, Time

from wardwatch.dashboards.panels import (
    DATASOURCE_UID,
    NEWS2_BAND_MAPPINGS,
    datasource,
    priority_overrides,
    stat,
    table,
    target,
    timeseries,
)

__all__ = ["DASHBOARDS", "ward_overview", "patient_detail", "operations", "dashboard_json", "export_all", "panel_queries"]

WARD = '"ward" =~ /^$ward$/'
PATIENT = '"patient" =~ /^$patient_ref$/'
NEWS2_STEPS: list[tuple[float | None, str]] = [(None, "green"), (5, "orange"), (7, "red")]
VITALS = [  # (title, MDC signal, unit, (x, w))
    ("Heart rate", "MDC_ECG_HEART_RATE", "bpm"),
    ("SpO2", "MDC_PULS_OXIM_SAT_O2", "percent"),
    ("Respiration rate", "MDC_RESP_RATE", "none"),
    ("Temperature", "MDC_TEMP_BODY", "celsius"),
]


def _var(name: str, label: str, query: str) -> Template:
    return Template(name=name, label=label, query=query, dataSource=datasource(), includeAll=False, multi=False)  # type: ignore[arg-type]


def _ward_var() -> Template:
    return _var("ward", "Ward", 'SHOW TAG VALUES FROM "vitals" WITH KEY = "ward"')


def _dashboard(uid: str, title: str, description: str, panels: list[Any], variables: list[Template],
               annotations: list[dict[str, Any]] | None = None, span: str = "now-1h") -> Dashboard:
    return Dashboard(
        uid=uid, title=title, description=description, tags=["wardwatch"], panels=panels,
        templating=Templating(list=variables), annotations=Annotations(list=annotations or []),
        time=Time(span, "now"), refresh="10s", timezone="browser",
    )


def ward_overview() -> Dashboard:
    """Beds with their latest vital signs, NEWS2 in colour bands, active alarms by priority."""
    band = (f'SELECT last("news2.band_level") AS "band" FROM "features" WHERE {WARD} AND "source" = \'news2\' '
            'AND $timeFilter GROUP BY "bed"')
    total = (f'SELECT last("news2.total") AS "NEWS2" FROM "features" WHERE {WARD} AND "source" = \'news2\' '
             'AND $timeFilter GROUP BY "bed"')
    active = [('SELECT count("active") AS "{p}" FROM (SELECT last("active") AS "active", "priority" FROM "alert_state" '
               f'WHERE {WARD} AND $timeFilter GROUP BY "alert_id") WHERE "active" = 1 AND "priority" = \'{{p}}\'').format(p=p)
              for p in ("high", "medium", "low")]
    open_alarms = ('SELECT "bed", "priority", "kind", "state", "source", "message" FROM (SELECT last("active") AS "active", '
                   f'"priority", "state", "source", "message" FROM "alert_state" WHERE {WARD} AND $timeFilter '
                   'GROUP BY "alert_id", "bed", "kind") WHERE "active" = 1')
    latest = f'SELECT last("value") AS "value" FROM "vitals" WHERE {WARD} AND $timeFilter GROUP BY "bed", "signal"'
    raised = (f'SELECT count("alert_id") AS "raised" FROM "alarm_log" WHERE {WARD} AND "event" = \'raised\' '
              'AND $timeFilter GROUP BY "priority"')
    trend = (f'SELECT last("news2.total") FROM "features" WHERE {WARD} AND "source" = \'news2\' AND $timeFilter '
             'GROUP BY time($__interval), "bed" fill(none)')
    panels = [
        stat("Active alarms by priority", [target(q, ref) for q, ref in zip(active, "ABC")], (0, 0, 8, 5),
             overrides=priority_overrides(), steps=[(None, "green"), (1, "red")], no_value="0",
             description="Alarms active or escalated now (IEC 60601-1-8 colours: red high, yellow medium, cyan low)."),
        stat("NEWS2 band by bed", [target(band, alias="bed $tag_bed")], (8, 0, 16, 5), mappings=NEWS2_BAND_MAPPINGS,
             steps=[(None, "green"), (1, "yellow"), (2, "orange"), (3, "red")],
             description="RCP 2017 bands: low, low-medium (a 3 in one parameter), medium, high; word and colour."),
        stat("NEWS2 total by bed", [target(total, alias="bed $tag_bed")], (0, 5, 24, 4), steps=NEWS2_STEPS),
        table("Open alarms", [target(open_alarms, fmt="table")], (0, 9, 24, 6), overrides=[
            {"matcher": {"id": "byName", "options": "priority"}, "properties": [
                {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                {"id": "mappings", "value": [{"type": "value", "options": {
                    p: {"text": p.upper(), "color": c} for p, c in {"high": "red", "medium": "yellow", "low": "#00BCD4"}.items()}}]}]}],
              description="Each alarm not yet acknowledged or resolved; technical alarms show kind=technical."),
        table("Beds: latest vital signs", [target(latest, fmt="table")], (0, 15, 24, 9), transformations=[
            {"id": "groupingToMatrix", "options": {"columnField": "signal", "rowField": "bed", "valueField": "value"}}]),
        stat("Alarms raised in range", [target(raised, alias="$tag_priority")], (0, 24, 8, 6),
             overrides=priority_overrides(), no_value="0"),
        timeseries("NEWS2 by bed", [target(trend, alias="bed $tag_bed")], (8, 24, 16, 6), steps=NEWS2_STEPS, bands=True),
    ]
    return _dashboard("wardwatch-ward", "WardWatch - ward overview", "Which bed is worsening, which alarm is open.",
                      panels, [_ward_var()])


def patient_detail() -> Dashboard:
    """One patient (by bed and pseudonymous reference): trends, NEWS2, ECG/PPG features, alarms and notes."""
    variables = [
        _ward_var(),
        _var("bed", "Bed", f'SHOW TAG VALUES FROM "vitals" WITH KEY = "bed" WHERE {WARD}'),
        _var("patient_ref", "Patient (pseudonym)",
             f'SHOW TAG VALUES FROM "vitals" WITH KEY = "patient" WHERE {WARD} AND "bed" =~ /^$bed$/'),
    ]
    panels: list[Any] = []
    for i, (title, signal, unit) in enumerate(VITALS):
        q = (f'SELECT mean("value") AS "{title}" FROM "vitals" WHERE {PATIENT} AND "signal" = \'{signal}\' '
             'AND $timeFilter GROUP BY time($__interval) fill(none)')
        panels.append(timeseries(title, [target(q)], ((i % 2) * 12, (i // 2) * 6, 12, 6), unit=unit))
    bp = ('SELECT mean("value") FROM "vitals" WHERE {p} AND "signal" =~ /^MDC_PRESS_BLD_NONINV_(SYS|DIA)$/ '
          'AND $timeFilter GROUP BY time($__interval), "signal" fill(none)').format(p=PATIENT)
    news2 = (f'SELECT last("news2.total") AS "NEWS2" FROM "features" WHERE {PATIENT} AND "source" = \'news2\' '
             'AND $timeFilter GROUP BY time($__interval) fill(none)')
    derived = (f'SELECT mean("ecg.hr_bpm") AS "ECG heart rate", mean("ppg.pulse_rate_bpm") AS "PPG pulse rate", '
               f'mean("resp.rr_bpm") AS "respiration (waveform)" FROM "features" WHERE {PATIENT} '
               'AND "source" =~ /^(ecg|ppg|resp)$/ AND $timeFilter GROUP BY time($__interval) fill(none)')
    quality = (f'SELECT mean("ecg.sqi") AS "ECG quality", mean("ppg.sqi") AS "PPG quality" FROM "features" '
               f'WHERE {PATIENT} AND "source" =~ /^(ecg|ppg)$/ AND $timeFilter GROUP BY time($__interval) fill(none)')
    alarms = (f'SELECT "alert_id", "source", "detail", "role" FROM "alarm_log" WHERE {PATIENT} AND "event" != \'notified\' '
              'AND $timeFilter GROUP BY "priority", "kind", "event"')
    notes = ('SELECT "text", "rejection", "latency_ms" FROM "alert_notes" WHERE "patient_ref" =~ /^$patient_ref$/ '
             'AND $timeFilter GROUP BY "alert_id", "backend", "verified"')
    panels += [
        timeseries("Blood pressure (cuff)", [target(bp, alias="$tag_signal")], (0, 12, 12, 6), unit="mmHg"),
        timeseries("NEWS2", [target(news2)], (12, 12, 12, 6), steps=NEWS2_STEPS, bands=True),
        timeseries("From the waveforms: ECG, PPG, respiration", [target(derived)], (0, 18, 12, 7), unit="none",
                   description="Derived by the signal agent from the ECG/PPG/respiration waveforms (raw strips are "
                               "not stored in InfluxDB; see docs/dashboards.md)."),
        timeseries("Signal quality", [target(quality)], (12, 18, 12, 7), unit="percentunit"),
        table("Alarm log", [target(alarms, fmt="table")], (0, 25, 24, 7)),
        table("Alarm notes", [target(notes, fmt="table")], (0, 32, 24, 7),
              description="Verified notes (verified=true) or the template note the verifier fell back to."),
    ]
    annotations = [
        {"name": "Alarms", "datasource": datasource(), "enable": True, "iconColor": "red",
         "query": f'SELECT "detail", "source" FROM "alarm_log" WHERE {PATIENT} AND "event" = \'raised\' AND $timeFilter',
         "textColumn": "detail", "titleColumn": "source"},
        {"name": "Alarm notes", "datasource": datasource(), "enable": True, "iconColor": "#00BCD4",
         "query": 'SELECT "text" FROM "alert_notes" WHERE "patient_ref" =~ /^$patient_ref$/ AND $timeFilter',
         "textColumn": "text"},
    ]
    return _dashboard("wardwatch-patient", "WardWatch - patient detail",
                      "One bed's patient (pseudonymous reference only): trends, NEWS2, derived waveform values, alarms, notes.",
                      panels, variables, annotations, span="now-3h")


def operations() -> Dashboard:
    """The pipeline: throughput, sink delay (lag), write latency and failures, dead letters."""
    sw = '"operations"."sink_writes"'
    rate = (f'SELECT sum("points") * 1000 / $__interval_ms FROM {sw} WHERE $timeFilter '
            'GROUP BY time($__interval), "measurement" fill(0)')
    delay = f'SELECT max("delay_s_max") FROM {sw} WHERE $timeFilter GROUP BY time($__interval), "measurement" fill(none)'
    latency = f'SELECT max("write_ms_max") FROM {sw} WHERE $timeFilter GROUP BY time($__interval), "measurement" fill(none)'
    failures = f'SELECT sum("failures") FROM {sw} WHERE $timeFilter GROUP BY time($__interval), "measurement" fill(0)'
    dl_rate = ('SELECT sum("count") * 60000 / $__interval_ms FROM "operations"."dead_letters" WHERE $timeFilter '
               'GROUP BY time($__interval), "stage", "source" fill(0)')
    dl_total = 'SELECT sum("count") AS "dead letters" FROM "operations"."dead_letters" WHERE $timeFilter GROUP BY "stage"'
    observed = ('SELECT count("value") FROM "vitals" WHERE $timeFilter GROUP BY time($__interval), "ward" fill(0)')
    panels = [
        timeseries("Points written per second", [target(rate, alias="$tag_measurement")], (0, 0, 12, 7), unit="pps"),
        timeseries("Sink delay (lag): now minus newest record written", [target(delay, alias="$tag_measurement")],
                   (12, 0, 12, 7), unit="s", steps=[(None, "green"), (30, "orange"), (120, "red")],
                   description="How far behind the sinks run: grows while InfluxDB is down and Kafka holds the backlog."),
        timeseries("Write latency (max)", [target(latency, alias="$tag_measurement")], (0, 7, 12, 7), unit="ms"),
        timeseries("Failed writes (retried with backoff)", [target(failures, alias="$tag_measurement")], (12, 7, 12, 7)),
        timeseries("Dead letters per minute", [target(dl_rate, alias="$tag_stage from $tag_source")], (0, 14, 12, 7)),
        stat("Dead letters in range", [target(dl_total, alias="$tag_stage")], (12, 14, 12, 7),
             steps=[(None, "green"), (1, "orange")], no_value="0"),
        timeseries("Observations by event time", [target(observed, alias="$tag_ward")], (0, 21, 24, 6)),
    ]
    return _dashboard("wardwatch-operations", "WardWatch - operations", "Is the pipeline keeping up?", panels, [])


DASHBOARDS: dict[str, Callable[..., Dashboard]] = {
    "wardwatch-ward": ward_overview,
    "wardwatch-patient": patient_detail,
    "wardwatch-operations": operations,
}


def _retarget(node: Any, ds: str) -> Any:
    if isinstance(node, dict):
        if node.get("type") == "influxdb" and node.get("uid") == DATASOURCE_UID and len(node) == 2:
            return {"type": "influxdb", "uid": ds}
        return {k: _retarget(v, ds) for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v, ds) for v in node]
    return node


def dashboard_json(dashboard: Dashboard, ds: str = DATASOURCE_UID) -> dict[str, Any]:
    """The JSON (as a dict) Grafana imports, every panel, variable and annotation on datasource ``ds``."""
    return _retarget(json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder)), ds)


def export_all(out_dir: str | Path, ds: str = DATASOURCE_UID) -> list[Path]:
    """Write ``<uid>.json`` of every dashboard into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for uid, build in DASHBOARDS.items():
        path = out / f"{uid}.json"
        path.write_text(json.dumps(dashboard_json(build(), ds), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths


def panel_queries(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(what, query)`` for every InfluxQL query in dashboard JSON ``doc``: panels, variables, annotations."""
    for panel in doc.get("panels", []):
        for t in panel.get("targets", []):
            yield f"panel {panel['title']!r} {t['refId']}", t["query"]
    for var in doc.get("templating", {}).get("list", []):
        yield f"variable ${var['name']}", var["query"]
    for ann in doc.get("annotations", {}).get("list", []):
        if "query" in ann:
            yield f"annotation {ann['name']!r}", ann["query"]
