"""Canonical records, their codec, the signal table, topics, pseudonyms and the simulator."""

from wardwatch.streams.codec import decode, encode, from_json, to_json
from wardwatch.streams.pseudonym import pseudonymize
from wardwatch.streams.records import (
    Alert,
    AlertNote,
    ChartedEvent,
    Evidence,
    Features,
    NumericObservation,
    Record,
    WaveformChunk,
    alert_id,
)
from wardwatch.streams.signals import SIGNALS, SignalSpec, lookup

__all__ = [
    "NumericObservation",
    "WaveformChunk",
    "ChartedEvent",
    "Alert",
    "AlertNote",
    "Evidence",
    "Features",
    "Record",
    "alert_id",
    "encode",
    "decode",
    "to_json",
    "from_json",
    "pseudonymize",
    "SIGNALS",
    "SignalSpec",
    "lookup",
]
