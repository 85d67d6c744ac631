"""WardWatch: a multimodal patient-monitoring stream processor.

The pipeline lives in sub-packages that mirror the repository's top-level folders:
``wardwatch.streams`` (records, codecs, topics, adapters, simulator), ``wardwatch.agents`` (the
Faust app), ``wardwatch.models`` (signal processing, scores, detectors, summarizer),
``wardwatch.alerting`` and ``wardwatch.dashboards``. This package holds what every stage shares:
configuration, errors, logging and the CLI.
"""

from wardwatch.config import Settings, load_settings
from wardwatch.errors import ConfigurationError, SchemaValidationError, WardWatchError
from wardwatch.logging import configure_logging

__version__ = "0.1.0"

__all__ = [
    "Settings",
    "load_settings",
    "WardWatchError",
    "ConfigurationError",
    "SchemaValidationError",
    "configure_logging",
    "__version__",
]
