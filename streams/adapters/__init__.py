"""Sensor adapters: native device messages in, canonical records out.

See :mod:`wardwatch.streams.adapters.base` for the contract and ``docs/write-an-adapter.md``
for a walk-through.
"""

from wardwatch.streams.adapters.base import Adapter, AdapterContext, ParseResult, Problem
from wardwatch.streams.adapters.ingest import AdapterCounters, Ingestor, IngestOutcome, RecordSink
from wardwatch.streams.adapters.registry import available_adapters, get_adapter_class, register_adapter

__all__ = [
    "Adapter",
    "AdapterContext",
    "ParseResult",
    "Problem",
    "Ingestor",
    "IngestOutcome",
    "AdapterCounters",
    "RecordSink",
    "available_adapters",
    "get_adapter_class",
    "register_adapter",
]
