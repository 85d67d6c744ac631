"""Logging setup. Libraries only ever call ``logging.getLogger(__name__)``; entry points call
:func:`configure_logging` once. No log line may carry a patient name or record number: records
carry the pseudonymous reference only, and that is all a log line may name.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str | int = "INFO") -> None:
    """Send WardWatch's log records to stderr at ``level`` (name or number)."""
    root = logging.getLogger()
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty third-party loggers stay at WARNING unless asked for DEBUG.
    if level > logging.DEBUG:
        for name in ("kafka", "aiokafka", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)
