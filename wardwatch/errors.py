"""One error root for the whole project.

Every error WardWatch raises on purpose derives from :class:`WardWatchError`; each subclass
also inherits the matching built-in, so ``except ValueError`` keeps working for callers that
do not know WardWatch. Wrappers keep the original error as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "WardWatchError",
    "ConfigurationError",
    "SchemaValidationError",
    "UnknownSignalError",
    "ServiceUnavailableError",
    "StackError",
]


class WardWatchError(Exception):
    """Root of every error raised by WardWatch."""


class ConfigurationError(WardWatchError, ValueError):
    """A setting is missing or invalid. The message names the setting and the fix."""

    def __init__(self, setting: str, problem: str, fix: str = "") -> None:
        self.setting = setting
        self.problem = problem
        self.fix = fix
        message = f"{setting}: {problem}"
        if fix:
            message += f" — {fix}"
        super().__init__(message)


class SchemaValidationError(WardWatchError, ValueError):
    """A record does not match its canonical schema.

    ``field`` is the path of the offending field (``$.value``), or ``$`` for the whole
    message; ``reason`` says what is wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class UnknownSignalError(WardWatchError, KeyError):
    """A signal code is in none of the project's code tables."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)

    def __str__(self) -> str:
        return f"unknown signal code {self.code!r}: not an MDC reference id, MDC code or LOINC code in wardwatch.streams.signals"


class ServiceUnavailableError(WardWatchError, ConnectionError):
    """A service WardWatch needs (Kafka, InfluxDB, MQTT broker) does not answer."""


class StackError(WardWatchError, RuntimeError):
    """The local stack could not be installed, started or stopped."""
