"""The dashboards as code: structure, colours, queries, and that the committed JSON is current."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from wardwatch.cli import cli
from wardwatch.dashboards.grafana_dashboards import DASHBOARDS, dashboard_json, export_all, panel_queries
from wardwatch.dashboards.panels import PRIORITY_COLOURS, render_query

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_every_panel_is_a_raw_influxql_query_on_the_wardwatch_datasource(uid: str) -> None:
    doc = dashboard_json(DASHBOARDS[uid]())
    assert doc["uid"] == uid and doc["panels"]
    for panel in doc["panels"]:
        assert panel["targets"], panel["title"]
        for t in panel["targets"]:
            assert t["rawQuery"] is True and t["datasource"] == {"type": "influxdb", "uid": "wardwatch-influxdb"}
            assert "$timeFilter" in t["query"], (panel["title"], t["query"])
    queries = [q for _, q in panel_queries(doc)]
    assert not any(re.search(r"\bname\b|mrn|record_number", q, re.I) for q in queries)  # pseudonymous refs only


def test_ward_overview_has_the_clinical_panels_and_colours() -> None:
    doc = dashboard_json(DASHBOARDS["wardwatch-ward"]())
    titles = {p["title"]: p for p in doc["panels"]}
    assert {"Active alarms by priority", "NEWS2 band by bed", "Open alarms", "Beds: latest vital signs"} <= set(titles)
    band = titles["NEWS2 band by bed"]
    words = {v["text"] for m in band["fieldConfig"]["defaults"]["mappings"] for v in m["options"].values()}
    assert {"LOW", "HIGH - emergency"} <= words  # a word with each colour
    overrides = json.dumps(titles["Active alarms by priority"]["fieldConfig"]["overrides"])
    assert all(colour in overrides for colour in PRIORITY_COLOURS.values())
    assert [v["name"] for v in doc["templating"]["list"]] == ["ward"]


def test_patient_detail_is_templated_and_annotated() -> None:
    doc = dashboard_json(DASHBOARDS["wardwatch-patient"]())
    assert [v["name"] for v in doc["templating"]["list"]] == ["ward", "bed", "patient_ref"]
    assert {a["name"] for a in doc["annotations"]["list"]} == {"Alarms", "Alarm notes"}
    assert any("alert_notes" in q for _, q in panel_queries(doc))


def test_render_query_substitutes_like_grafana() -> None:
    q = 'SELECT mean("v") FROM "x" WHERE "patient" =~ /^$patient_ref$/ AND $timeFilter GROUP BY time($__interval) LIMIT $__interval_ms'
    out = render_query(q, {"patient_ref": "p-ab.c"}, 1_000_000_000, 2_000_000_000, interval_s=5)
    assert out == ('SELECT mean("v") FROM "x" WHERE "patient" =~ /^p-ab\\.c$/ AND time >= 1000ms and time <= 2000ms '
                   "GROUP BY time(5s) LIMIT 5000")
    with pytest.raises(ValueError, match="unsubstituted"):
        render_query('SELECT 1 FROM "x" WHERE "bed" = \'$bed\'', {}, 0, 1)


def test_committed_json_is_what_the_code_exports(tmp_path: Path) -> None:
    export_all(tmp_path)
    for folder in (REPO / "dashboards" / "json", REPO / "docs" / "dashboards"):
        for path in tmp_path.glob("*.json"):
            assert (folder / path.name).read_text() == path.read_text(), f"run `wardwatch dashboards export --out {folder}`"


def test_cli_export_with_another_datasource(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["dashboards", "export", "--out", str(tmp_path), "--datasource-uid", "hosp-influx"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wardwatch-operations.json", "wardwatch-patient.json", "wardwatch-ward.json"]
    text = (tmp_path / "wardwatch-patient.json").read_text()
    assert "hosp-influx" in text and "wardwatch-influxdb" not in text


def test_provisioning_files_name_the_datasource_the_panels_use() -> None:
    import yaml

    ds = yaml.safe_load((REPO / "dashboards" / "provisioning" / "datasources" / "wardwatch.yaml").read_text())
    assert ds["datasources"][0]["uid"] == "wardwatch-influxdb" and ds["datasources"][0]["type"] == "influxdb"
    prov = yaml.safe_load((REPO / "dashboards" / "provisioning" / "dashboards" / "wardwatch.yaml").read_text())
    assert prov["providers"][0]["type"] == "file"
