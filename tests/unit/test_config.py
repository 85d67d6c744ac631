from __future__ import annotations

import pytest
from click.testing import CliRunner

from wardwatch.cli import cli
from wardwatch.config import describe_settings, env_var, load_settings
from wardwatch.errors import ConfigurationError


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().kafka.bootstrap_servers == "127.0.0.1:9092"
    monkeypatch.setenv("WARDWATCH_KAFKA_PARTITIONS", "16")
    monkeypatch.setenv("WARDWATCH_INFLUX_URL", "http://db.example:8087/")
    s = load_settings()
    assert s.kafka.partitions == 16
    assert s.influx.url == "http://db.example:8087" and s.influx.host_port == ("db.example", 8087)


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDWATCH_WARD_PATIENTS", "5")
    assert load_settings(ward={"patients": 3}).ward.patients == 3


@pytest.mark.parametrize(
    ("var", "value", "words"),
    [
        ("WARDWATCH_KAFKA_PARTITIONS", "0", "greater than or equal to 1"),
        ("WARDWATCH_KAFKA_BOOTSTRAP_SERVERS", "localhost", "host:port"),
        ("WARDWATCH_INFLUX_URL", "db:8086", "http:// or https://"),
        ("WARDWATCH_LLM_BACKEND", "gpt", "'template', 'transformers' or 'openai'"),
        ("WARDWATCH_WARD_SPEED", "-1", "greater than 0"),
        ("WARDWATCH_STACK_KAFKA_HEAP", "lots", "512m"),
    ],
)
def test_bad_value_names_the_variable_and_what_is_allowed(monkeypatch: pytest.MonkeyPatch, var: str, value: str, words: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert info.value.setting == var
    assert words in str(info.value)
    assert repr(value) in str(info.value)  # says what it got


def test_pseudonym_secret_required_with_a_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings().pseudonym.require_secret()
    assert info.value.setting == "WARDWATCH_PSEUDONYM_SECRET" and "export WARDWATCH_PSEUDONYM_SECRET=" in str(info.value)
    monkeypatch.setenv("WARDWATCH_PSEUDONYM_SECRET", "short")
    with pytest.raises(ConfigurationError):
        load_settings().pseudonym.require_secret()
    monkeypatch.setenv("WARDWATCH_PSEUDONYM_SECRET", "x" * 32)
    assert load_settings().pseudonym.require_secret() == b"x" * 32


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDWATCH_PSEUDONYM_SECRET", "very-secret-value-123456")
    monkeypatch.setenv("WARDWATCH_INFLUX_PASSWORD", "hunter2hunter2")
    rows = {name: value for name, value, _ in describe_settings(load_settings())}
    assert rows["WARDWATCH_PSEUDONYM_SECRET"] == "********"
    assert rows["WARDWATCH_LLM_API_KEY"] == "(unset)"
    out = CliRunner().invoke(cli, ["config", "show"]).output
    assert "WARDWATCH_INFLUX_PASSWORD" in out and "WARDWATCH_KAFKA_BOOTSTRAP_SERVERS" in out
    assert "very-secret-value" not in out and "hunter2" not in out


def test_every_setting_has_a_variable_and_description() -> None:
    rows = describe_settings(load_settings())
    assert len(rows) >= 30
    assert all(name.startswith("WARDWATCH_") and description for name, _, description in rows)
    assert env_var("kafka", "partitions") == "WARDWATCH_KAFKA_PARTITIONS"
