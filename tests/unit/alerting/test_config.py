"""Loading and validating alarm configuration: errors name the file, the rule and the field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from wardwatch.alerting import load_config, load_config_text
from wardwatch.alerting.config import PRIORITIES, ThresholdRule
from wardwatch.errors import ConfigurationError

GOOD = '  - {id: spo2.low, type: threshold, signal: MDC_PULS_OXIM_SAT_O2, op: "<", limit: 90, priority: medium}\n'


def test_default_ward_rules_ship_with_the_package_and_load() -> None:
    shipped = resources.files("wardwatch.alerting").joinpath("defaults/ward-default.yaml")
    assert shipped.is_file()
    cfg = load_config()
    ids = {r.id for r in cfg.rules}
    assert {"spo2.threshold", "spo2.satseconds", "news2", "ecg.lead_off", "nodata.hr", "arrhythmia.vt"} <= ids
    assert {r.kind for r in cfg.rules if r.type in ("quality_flag", "no_data")} == {"technical"}
    spo2 = next(r for r in cfg.rules if r.id == "spo2.threshold")
    assert isinstance(spo2, ThresholdRule) and spo2.delay_s == 15
    assert [(lv.limit, lv.priority) for lv in spo2.slots() if lv] == [(90.0, "medium"), (85.0, "high")]
    assert [s.tier for s in cfg.escalation.ladder("physiological", "high")] == ["bedside_nurse", "charge_nurse", "on_call_doctor"]
    assert [s.tier for s in cfg.escalation.ladder("physiological", "low")] == ["bedside_nurse"]


def test_naive_thresholds_load_from_a_path(tmp_path: Path) -> None:
    path = Path(str(resources.files("wardwatch.alerting").joinpath("defaults/naive-thresholds.yaml")))
    cfg = load_config(path)
    assert all(r.delay_s == 0 and r.hysteresis == 0 for r in cfg.rules)


@pytest.mark.parametrize(
    ("rules", "rule", "field"),
    [
        ('  - {id: spo2.low, type: threshold, signal: MDC_PULS_OXIM_SAT_O2, op: "<", limit: 90, priority: medium, delay_s: -5}\n', "spo2.low", "delay_s"),
        ('  - {id: spo2.low, type: threshold, signal: MDC_PULS_OXIM_SAT_O2, op: "<", limit: 90, priority: urgent}\n', "spo2.low", "priority"),
        ('  - {id: hr, type: threshold, signal: HEART, op: ">", limit: 130, priority: medium}\n', "hr", "signal"),
        ('  - {id: hr, type: threshold, signal: MDC_ECG_HEART_RATE, op: "<", priority: medium, levels: [{limit: 40, priority: high}, {limit: 35, priority: medium}]}\n', "hr", "levels"),
        ('  - {id: s, type: integral, signal: MDC_PULS_OXIM_SAT_O2, limit: 90, area: 0, priority: medium}\n', "s", "area"),
        ('  - {id: s, type: threshold, signal: MDC_PULS_OXIM_SAT_O2, op: "<", limit: 90, priority: medium, message: "{spo2}"}\n', "s", "message"),
        ('  - {id: s, type: threshold, signal: MDC_PULS_OXIM_SAT_O2, op: "<", limit: 90, priority: medium, dely_s: 5}\n', "s", "dely_s"),
        ('  - {id: s, type: treshold}\n', "s", "type"),
        ('  - {id: v, type: arrhythmia, feature: arrhythmia.vt, verifier: {min_probability: 1.5, hook: x}}\n', "v", "verifier.min_probability"),
        (GOOD + GOOD, "spo2.low", "id"),
    ],
)
def test_config_errors_name_file_rule_and_field(rules: str, rule: str, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config_text("rules:\n" + rules, "ward-b.yaml")
    text = str(info.value)
    assert text.startswith("ward-b.yaml: ")
    assert f"rule {rule!r}" in text
    assert f"field '{field}'" in text


def test_override_errors_name_the_override() -> None:
    with pytest.raises(ConfigurationError, match=r"ward-b.yaml: overrides\[0\] rule 'spo2.low', field 'limit'"):
        load_config_text("rules:\n" + GOOD + "overrides:\n  - {bed: '3', rules: {spo2.low: {limit: high}}}\n", "ward-b.yaml")
    with pytest.raises(ConfigurationError, match=r"overrides\[0\], field 'patient_ref'"):
        load_config_text("rules:\n" + GOOD + "overrides:\n  - {rules: {spo2.low: {limit: 80}}}\n", "ward-b.yaml")


def test_escalation_errors_name_the_ladder() -> None:
    bad = "escalation:\n  physiological:\n    high: [{tier: charge_nurse, after_s: 120}, {tier: bedside_nurse, after_s: 0}]\n"
    with pytest.raises(ConfigurationError, match=r"escalation, field 'physiological.high'"):
        load_config_text("rules:\n" + GOOD + bad, "ward-b.yaml")


def test_a_group_cannot_mix_kinds() -> None:
    rules = GOOD.replace("priority: medium}", "priority: medium, group: g}") + "  - {id: x, type: no_data, signal: MDC_PULS_OXIM_SAT_O2, timeout_s: 60, group: g}\n"
    with pytest.raises(ConfigurationError, match=r"rule 'x' \(rules\[1\]\), field 'group'"):
        load_config_text("rules:\n" + rules, "ward-b.yaml")


def test_unreadable_or_malformed_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    with pytest.raises(ConfigurationError, match="broken.yaml: not valid YAML"):
        load_config(broken)
    with pytest.raises(ConfigurationError, match="field 'rules'"):
        load_config_text("ward: a\n", "empty.yaml")


def test_priorities_are_iec_order() -> None:
    assert PRIORITIES == ("low", "medium", "high")
