"""Detectors by name: built-ins, plus third-party ones from the ``wardwatch.detectors`` entry points.

Built-ins are imported lazily (torch loads only when a detector is asked for); an entry point that
fails to import because an optional dependency is missing raises an error with an install hint.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points
from typing import Any

from wardwatch.errors import ConfigurationError
from wardwatch.models.detectors.base import Detector

__all__ = ["BUILTIN_DETECTORS", "ENTRY_POINT_GROUP", "detector_names", "get_detector_class", "get_detector"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "wardwatch.detectors"

#: name -> "module:Class" of the detectors that ship with WardWatch.
BUILTIN_DETECTORS: dict[str, str] = {
    "alarm-verifier": "wardwatch.models.detectors.alarm_verifier:AlarmVerifier",
    "af": "wardwatch.models.detectors.af:AFDetector",
    "deterioration": "wardwatch.models.detectors.deterioration:DeteriorationDetector",
}


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def detector_names() -> list[str]:
    """Every detector name that can be asked for, built-ins first."""
    return list(BUILTIN_DETECTORS) + sorted(n for n in _entry_points() if n not in BUILTIN_DETECTORS)


def get_detector_class(name: str) -> type[Detector]:
    """The class registered under ``name``; :class:`ConfigurationError` naming the choices if unknown."""
    try:
        if name in BUILTIN_DETECTORS:
            module, _, attr = BUILTIN_DETECTORS[name].partition(":")
            cls = getattr(importlib.import_module(module), attr)
        else:
            eps = _entry_points()
            if name not in eps:
                raise ConfigurationError("detector", f"unknown detector {name!r}", f"choose one of {', '.join(detector_names())}")
            cls = eps[name].load()
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"detector {name!r}", f"needs the Python package {exc.name!r}", f"pip install {exc.name}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        raise ConfigurationError(f"detector {name!r}", "does not subclass wardwatch.models.detectors.Detector", "fix the entry point")
    return cls


def get_detector(name: str, **options: Any) -> Detector:
    """An instance of the detector ``name`` (options go to its constructor)."""
    return get_detector_class(name)(**options)
