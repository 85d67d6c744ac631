"""The demo's ward file (the demo ward, events brought forward) and its staff tokens."""

from __future__ import annotations

import stat
from pathlib import Path

from wardwatch.config import load_settings
from wardwatch.demo import DEMO_COMPRESSION, demo_tokens, demo_ward_file
from wardwatch.streams.scenarios import resolve_plan
from wardwatch.streams.scenarios.model import load_ward


def test_demo_ward_file_brings_events_forward_and_keeps_the_ward_name(tmp_path: Path) -> None:
    settings = load_settings(stack={"state_dir": tmp_path}, ward={"name": "ward-x", "patients": 10, "seed": 7})
    path = demo_ward_file(settings)
    plan = load_ward(path)  # a valid ward file, as `wardwatch scenario run` reads it
    original = resolve_plan("demo-ward")
    assert plan.name == "ward-x" and plan.seed == 7 and len(plan.beds) == 10 and plan.duration_s >= 86_400
    assert [b.bed for b in plan.beds] == [f"{i:02d}" for i in range(1, 11)]
    assert not plan.beds[8].events and not plan.beds[9].events  # beyond the file's eight: stable beds
    for mine, theirs in zip(plan.beds, original.beds):
        assert [e.scenario for e in mine.events] == [e.scenario for e in theirs.events]
        for e, o in zip(mine.events, theirs.events):
            assert e.onset_s == max(30.0, round(o.onset_s / DEMO_COMPRESSION))
    desaturation = next(e for b in plan.beds for e in b.events if e.scenario == "acute-desaturation")
    assert desaturation.onset_s == 150.0
    three = load_ward(demo_ward_file(load_settings(stack={"state_dir": tmp_path}, ward={"name": "ward-x", "patients": 3})))
    assert [b.bed for b in three.beds] == ["01", "02", "03"]


def test_demo_tokens_are_made_once_and_private(tmp_path: Path) -> None:
    settings = load_settings(stack={"state_dir": tmp_path})
    tokens = demo_tokens(settings)
    assert sorted(tokens) == ["doctor", "nurse", "viewer"] and len(set(tokens.values())) == 3
    assert all(len(t) >= 16 for t in tokens.values())
    assert demo_tokens(settings) == tokens
    mode = (tmp_path / "demo-staff-tokens.json").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
