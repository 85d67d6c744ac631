"""NotifySettings: WARDWATCH_NOTIFY_* variables, the recipients mapping, clear errors, masked secrets."""

from __future__ import annotations

import pytest

from wardwatch.config import NotifySettings, describe_settings, load_settings, notify_target_kind
from wardwatch.errors import ConfigurationError


def test_recipients_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDWATCH_NOTIFY_RECIPIENTS", '{"bedside_nurse": ["nurse-a@example.org", "webhook"], "on_call_doctor": "dr@example.org, https://pager.example.org/h"}')
    monkeypatch.setenv("WARDWATCH_NOTIFY_WEBHOOK_URL", "https://bridge.example.org/ww/")
    monkeypatch.setenv("WARDWATCH_NOTIFY_MAX_ATTEMPTS", "3")
    notify = load_settings().notify
    assert notify.recipients == {"bedside_nurse": ["nurse-a@example.org", "webhook"], "on_call_doctor": ["dr@example.org", "https://pager.example.org/h"]}
    assert notify.targets("bedside_nurse") == (["nurse-a@example.org"], ["https://bridge.example.org/ww"])
    assert notify.targets("on_call_doctor") == (["dr@example.org"], ["https://pager.example.org/h"])
    assert notify.targets("charge_nurse") == ([], [])
    assert notify.max_attempts == 3


@pytest.mark.parametrize(("value", "problem"), [
    ("{not json", "not JSON"),
    ('["a@example.org"]', "JSON object"),
    ('{"Bedside Nurse": []}', "lower-case"),
    ('{"bedside_nurse": ["pager 12"]}', "neither an e-mail address"),
    ('{"bedside_nurse": [3]}', "list of strings"),
])
def test_bad_recipients_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str, problem: str) -> None:
    monkeypatch.setenv("WARDWATCH_NOTIFY_RECIPIENTS", value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert info.value.setting == "WARDWATCH_NOTIFY_RECIPIENTS"
    assert problem in info.value.problem


def test_webhook_target_needs_a_url() -> None:
    with pytest.raises(ConfigurationError, match="WARDWATCH_NOTIFY_WEBHOOK_URL"):
        NotifySettings(recipients={"t": ["webhook"]}).targets("t")


def test_target_kinds() -> None:
    assert notify_target_kind("a@b.example") == "email"
    assert notify_target_kind("mailto:a@b.example") == "email"
    assert notify_target_kind("webhook") == "webhook"
    assert notify_target_kind("http://127.0.0.1:9000/x") == "webhook"
    with pytest.raises(ValueError):
        notify_target_kind("ftp://x")


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDWATCH_NOTIFY_WEBHOOK_SECRET", "very-secret-webhook-key")
    monkeypatch.setenv("WARDWATCH_NOTIFY_SMTP_PASSWORD", "smtp-pass-123")
    rows = {name: value for name, value, _ in describe_settings(load_settings())}
    assert rows["WARDWATCH_NOTIFY_WEBHOOK_SECRET"] == "********"
    assert rows["WARDWATCH_NOTIFY_SMTP_PASSWORD"] == "********"
    assert "very-secret-webhook-key" not in str(rows) and "smtp-pass-123" not in str(rows)


def test_short_webhook_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="16 characters"):
        NotifySettings(webhook_secret="short").require_webhook_secret()  # type: ignore[arg-type]
