"""Adapters by name: the built-ins, and third-party ones from the ``wardwatch.adapters`` entry points.

A third-party package registers an adapter in its ``pyproject.toml``::

    [project.entry-points."wardwatch.adapters"]
    acme-monitor = "acme_wardwatch.monitor:AcmeMonitorAdapter"

Nothing is imported until an adapter is asked for, so a missing optional dependency only matters
for the adapter that needs it, and the error says what to install.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from wardwatch.errors import ConfigurationError
from wardwatch.streams.adapters.base import Adapter

__all__ = ["AdapterInfo", "BUILTIN_ADAPTERS", "available_adapters", "get_adapter_class", "register_adapter"]

ENTRY_POINT_GROUP = "wardwatch.adapters"

#: name → "module:Class" of the adapters that ship with WardWatch.
BUILTIN_ADAPTERS: dict[str, str] = {
    "hl7-oru": "wardwatch.streams.adapters.hl7_mllp:Hl7OruAdapter",
    "fhir-r4": "wardwatch.streams.adapters.fhir:FhirR4Adapter",
    "mqtt-wearable": "wardwatch.streams.adapters.mqtt_wearable:MqttWearableAdapter",
    "wfdb-replay": "wardwatch.streams.adapters.wfdb_replay:WfdbReplayAdapter",
}

_REGISTERED: dict[str, type[Adapter]] = {}


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    target: str
    origin: str  # "builtin", "entry point <dist>", "registered"


def register_adapter(cls: type[Adapter]) -> type[Adapter]:
    """Register an adapter class by its ``name`` (usable as a decorator)."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__qualname__} has no `name` class attribute")
    _REGISTERED[cls.name] = cls
    return cls


def _entry_points() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found[ep.name] = (ep.value, f"entry point {dist.name if dist else '?'}")
    return found


def available_adapters() -> list[AdapterInfo]:
    """Every adapter that can be asked for, built-ins first."""
    infos = [AdapterInfo(n, t, "builtin") for n, t in BUILTIN_ADAPTERS.items()]
    infos += [AdapterInfo(n, t, o) for n, (t, o) in _entry_points().items() if n not in BUILTIN_ADAPTERS]
    infos += [
        AdapterInfo(n, f"{c.__module__}:{c.__qualname__}", "registered")
        for n, c in _REGISTERED.items()
        if n not in BUILTIN_ADAPTERS
    ]
    return infos


def _load(target: str, name: str) -> type[Adapter]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            "adapter", f"adapter {name!r} needs the Python package {exc.name!r}, which is not installed",
            f"pip install {exc.name}",
        ) from exc
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ConfigurationError("adapter", f"{target} is not an Adapter subclass")
    return cls


def get_adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered as ``name``."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in BUILTIN_ADAPTERS:
        return _load(BUILTIN_ADAPTERS[name], name)
    eps = _entry_points()
    if name in eps:
        return _load(eps[name][0], name)
    known = ", ".join(i.name for i in available_adapters()) or "none"
    raise ConfigurationError("adapter", f"no adapter named {name!r}", f"known adapters: {known}")
