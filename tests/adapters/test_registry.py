"""The adapter registry: every built-in loads, has a conformance test, and shows in `wardwatch adapters list`."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from wardwatch.cli import cli
from wardwatch.errors import ConfigurationError
from wardwatch.streams.adapters.base import Adapter
from wardwatch.streams.adapters.registry import BUILTIN_ADAPTERS, available_adapters, get_adapter_class
from wardwatch.streams.adapters.serve import DEFAULT_PORTS, LISTENERS

from .conformance import AdapterConformance

TESTS = Path(__file__).resolve().parents[1]


def _conformance_classes() -> dict[str, list[type[AdapterConformance]]]:
    """Adapter name → the conformance test classes for it, from every test module that uses the suite."""
    for path in sorted(TESTS.rglob("test_*.py")):
        if "AdapterConformance" in path.read_text(encoding="utf-8") and path.name != Path(__file__).name:
            importlib.import_module(".".join(("tests",) + path.relative_to(TESTS).with_suffix("").parts))
    found: dict[str, list[type[AdapterConformance]]] = {}
    pending = list(AdapterConformance.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        adapter = getattr(cls, "adapter_class", None)
        if adapter is not None and cls.__name__.startswith("Test"):
            found.setdefault(adapter.name, []).append(cls)
    return found


def _ours(origin: str) -> bool:
    """Built-ins and WardWatch's own entry points; other packages test their adapters themselves."""
    return origin in ("builtin", "entry point wardwatch")


@pytest.mark.parametrize("name", [i.name for i in available_adapters() if _ours(i.origin)])
def test_every_registered_adapter_has_a_conformance_test(name: str) -> None:
    classes = _conformance_classes()
    assert name in classes, (
        f"adapter {name!r} has no conformance test: add tests/adapters/test_<module>.py with a class "
        "`TestX(AdapterConformance)` that sets adapter_class, valid_samples, malformed_samples and identifiers"
    )
    assert all(issubclass(c.adapter_class, Adapter) for c in classes[name])


@pytest.mark.parametrize("name", sorted(BUILTIN_ADAPTERS))
def test_builtin_loads_under_its_own_name(name: str) -> None:
    cls = get_adapter_class(name)
    assert issubclass(cls, Adapter) and cls.name == name and cls.summary


def test_network_adapters_are_builtin_and_servable() -> None:
    assert {"hl7-oru", "fhir-r4", "mqtt-wearable"} <= set(LISTENERS) <= set(BUILTIN_ADAPTERS)
    # listeners own a port; the MQTT subscriber connects to the broker of WARDWATCH_MQTT_* instead
    assert set(DEFAULT_PORTS) == set(LISTENERS) - {"mqtt-wearable"}


def test_unknown_adapter_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        get_adapter_class("no-such-device")
    assert "hl7-oru" in str(info.value) and "fhir-r4" in str(info.value)


def test_cli_lists_adapters_with_origin_and_summary() -> None:
    result = CliRunner().invoke(cli, ["adapters", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "builtin" in lines["hl7-oru"] and "ORU^R01" in lines["hl7-oru"]
    assert "builtin" in lines["fhir-r4"] and "FHIR R4" in lines["fhir-r4"]


def test_cli_serve_needs_the_pseudonym_secret() -> None:
    result = CliRunner().invoke(cli, ["adapters", "serve", "hl7-oru", "--port", "0"])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigurationError)
    assert "WARDWATCH_PSEUDONYM_SECRET" in str(result.exception)


def test_cli_serve_offers_exactly_the_listeners() -> None:
    result = CliRunner().invoke(cli, ["adapters", "serve", "--help"])
    assert result.exit_code == 0
    choices = result.output.split("{", 1)[1].split("}", 1)[0].split("|")
    assert sorted(choices) == sorted(LISTENERS)
