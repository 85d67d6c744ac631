"""Building blocks of WardWatch's Grafana dashboards: InfluxQL targets, colours, panels.

Every query is raw InfluxQL (``rawQuery``) with Grafana's macros ``$timeFilter``,
``$__interval`` and ``$__interval_ms`` and the dashboard's template variables (``$ward``,
``$bed``, ``$patient_ref``). :func:`render_query` substitutes them the way Grafana does, so the
tests (and ``wardwatch dashboards check``) run every panel's query against a real InfluxDB.

>>> render_query('SELECT 1 FROM "vitals" WHERE "ward" =~ /^$ward$/ AND $timeFilter',
...              {"ward": "ward-a"}, 0, 60_000_000_000)
'SELECT 1 FROM "vitals" WHERE "ward" =~ /^ward-a$/ AND time >= 0ms and time <= 60000ms'
"""

from __future__ import annotations

import re
from typing import Any

from grafanalib.core import GridPos, Stat, Table, TimeSeries
from grafanalib.influxdb import InfluxDBTarget

__all__ = [
    "DATASOURCE_UID",
    "PRIORITY_COLOURS",
    "NEWS2_BAND_MAPPINGS",
    "datasource",
    "target",
    "stat",
    "table",
    "timeseries",
    "render_query",
    "priority_overrides",
]

#: The uid of the InfluxDB datasource the provisioning file creates and every panel uses.
DATASOURCE_UID = "wardwatch-influxdb"

#: IEC 60601-1-8 alarm colours: red high, yellow medium, cyan low.
PRIORITY_COLOURS = {"high": "red", "medium": "yellow", "low": "#00BCD4"}

#: NEWS2 band level (0 low, 1 low-medium, 2 medium, 3 high; RCP 2017) as words and colours:
#: the word is always shown, so colour is never the only cue.
NEWS2_BAND_MAPPINGS: list[dict[str, Any]] = [{
    "type": "value",
    "options": {
        "0": {"text": "LOW", "color": "green", "index": 0},
        "1": {"text": "LOW-MEDIUM (3 in one)", "color": "yellow", "index": 1},
        "2": {"text": "MEDIUM - urgent review", "color": "orange", "index": 2},
        "3": {"text": "HIGH - emergency", "color": "red", "index": 3},
    },
}]


def datasource(uid: str = DATASOURCE_UID) -> dict[str, str]:
    """The datasource reference panels carry."""
    return {"type": "influxdb", "uid": uid}


def target(query: str, ref: str = "A", alias: str = "", fmt: str = "time_series", ds: str = DATASOURCE_UID) -> InfluxDBTarget:
    """A raw InfluxQL target; ``fmt`` is ``time_series`` or ``table``."""
    return InfluxDBTarget(query=query, refId=ref, alias=alias, format=fmt, datasource=datasource(ds))  # type: ignore[arg-type]


def _thresholds(steps: list[tuple[float | None, str]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


def stat(title: str, targets: list[InfluxDBTarget], pos: tuple[int, int, int, int], *, unit: str = "none",
         steps: list[tuple[float | None, str]] | None = None, mappings: list[dict[str, Any]] | None = None,
         overrides: list[dict[str, Any]] | None = None, description: str = "", ds: str = DATASOURCE_UID,
         no_value: str = "none") -> Stat:
    """A stat panel (last value, coloured background) at grid position ``(x, y, w, h)``."""
    x, y, w, h = pos
    return Stat(
        title=title, description=description, dataSource=datasource(ds), targets=targets,  # type: ignore[arg-type]
        gridPos=GridPos(h=h, w=w, x=x, y=y), format=unit, colorMode="background", graphMode="none",
        reduceCalc="lastNotNull", textMode="value_and_name", mappings=mappings or [], overrides=overrides or [],
        noValue=no_value,
        extraJson={"fieldConfig": {"defaults": {"thresholds": _thresholds(steps or [(None, "blue")])}}},
    )


def table(title: str, targets: list[InfluxDBTarget], pos: tuple[int, int, int, int], *,
          transformations: list[dict[str, Any]] | None = None, overrides: list[dict[str, Any]] | None = None,
          description: str = "", ds: str = DATASOURCE_UID) -> Table:
    """A table panel at grid position ``(x, y, w, h)``."""
    x, y, w, h = pos
    return Table(
        title=title, description=description, dataSource=datasource(ds), targets=targets,  # type: ignore[arg-type]
        gridPos=GridPos(h=h, w=w, x=x, y=y), transformations=transformations or [], overrides=overrides or [],
        fontSize="120%",
    )


def timeseries(title: str, targets: list[InfluxDBTarget], pos: tuple[int, int, int, int], *, unit: str = "none",
               steps: list[tuple[float | None, str]] | None = None, description: str = "",
               ds: str = DATASOURCE_UID, bands: bool = False) -> TimeSeries:
    """A time-series panel; ``bands`` shades the threshold ``steps`` behind the lines."""
    x, y, w, h = pos
    extra: dict[str, Any] = {"fieldConfig": {"defaults": {"thresholds": _thresholds(steps or [(None, "green")])}}}
    if bands:
        extra["fieldConfig"]["defaults"]["custom"] = {"thresholdsStyle": {"mode": "area"}}
    return TimeSeries(
        title=title, description=description, dataSource=datasource(ds), targets=targets,  # type: ignore[arg-type]
        gridPos=GridPos(h=h, w=w, x=x, y=y), unit=unit, extraJson=extra,
    )


def priority_overrides(field_of: str = "priority") -> list[dict[str, Any]]:
    """Field overrides that colour series named after an alarm priority in IEC colours."""
    return [
        {"matcher": {"id": "byRegexp", "options": f".*{prio}.*"},
         "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}
        for prio, colour in PRIORITY_COLOURS.items()
    ]


def _regex_escape(value: str) -> str:
    """Escape a variable's value as Grafana does inside an InfluxQL regex ``/^$var$/``."""
    return re.sub(r"([\\/^$.|?*+()\[\]{}])", r"\\\1", value)


def render_query(query: str, variables: dict[str, str], start_ns: int, end_ns: int, interval_s: int = 10) -> str:
    """``query`` with Grafana's macros and ``variables`` substituted for the range ``[start_ns, end_ns]``."""
    out = query.replace("$timeFilter", f"time >= {start_ns // 1_000_000}ms and time <= {end_ns // 1_000_000}ms")
    out = out.replace("$__interval_ms", str(interval_s * 1000)).replace("$__interval", f"{interval_s}s")
    for name in sorted(variables, key=len, reverse=True):
        out = out.replace(f"/^${name}$/", f"/^{_regex_escape(variables[name])}$/")
        out = out.replace(f"${name}", variables[name])
    if "$" in re.sub(r"\$/", "", out):
        raise ValueError(f"unsubstituted variable in {out!r}")
    return out
