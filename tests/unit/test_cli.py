from __future__ import annotations

import subprocess
import sys


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "wardwatch", *args], capture_output=True, text=True, env=full, timeout=60)


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("config", "stack", "topics", "worker", "simulate", "status", "demo"):
        assert f"  {command}" in out.stdout


def test_options_show_their_environment_variable() -> None:
    out = run("simulate", "--help")
    assert "WARDWATCH_WARD_PATIENTS" in out.stdout and "WARDWATCH_WARD_SPEED" in out.stdout


def test_configuration_error_is_one_clear_line_and_exit_2() -> None:
    out = run("config", "show", env={"WARDWATCH_KAFKA_PARTITIONS": "many"})
    assert out.returncode == 2
    assert out.stderr.startswith("configuration error: WARDWATCH_KAFKA_PARTITIONS:")
    assert "Traceback" not in out.stderr


def test_simulate_without_secret_says_how_to_set_it() -> None:
    out = run("simulate", "--duration", "1")
    assert out.returncode == 2
    assert "WARDWATCH_PSEUDONYM_SECRET" in out.stderr and "Traceback" not in out.stderr
