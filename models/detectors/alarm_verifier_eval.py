"""``wardwatch eval challenge2015``: keep (1) or suppress (0) each alarm of a folder of 2015 records.

For every ``*.hea`` of the folder: the alarm type from the header comments (the verdict line,
if any, is never read), the window ending at the alarm (5:00), P(true alarm) from the verifier
and its per-type threshold. Writes ``record,alarm_type,decision``, one row per record, sorted by
record name. A record whose channels are all unusable is kept (decision 1) and reported.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from wardwatch.errors import SchemaValidationError
from wardwatch.models.detectors.alarm_records import read_alarm_type, read_window, record_names
from wardwatch.models.detectors.alarm_verifier import AlarmVerifier

__all__ = ["run", "BATCH"]

logger = logging.getLogger(__name__)

BATCH = 32


def run(data_dir: Path, out_file: Path, echo: Callable[[str], Any]) -> int:
    """Decide every record of ``data_dir``; write the CSV to ``out_file``; return the row count.

    Raises
    ------
    SchemaValidationError
        When a header names no alarm type or a record's data cannot be read (the message names
        the record).
    """
    names = record_names(Path(data_dir))
    if not names:
        raise SchemaValidationError(str(data_dir), "no .hea records in this folder")
    det = AlarmVerifier()
    rows: list[tuple[str, str, int]] = []
    for start in range(0, len(names), BATCH):
        chunk = names[start:start + BATCH]
        types, windows = [], []
        for name in chunk:
            types.append(read_alarm_type(Path(data_dir) / f"{name}.hea"))
            try:
                windows.append(read_window(Path(data_dir) / name, AlarmVerifier.WINDOW_S))
            except (OSError, ValueError) as exc:
                raise SchemaValidationError(name, f"cannot read the record's signals: {exc}") from exc
        probs = det.verify(np.stack(windows), types)
        for name, kind, p in zip(chunk, types, probs):
            if not np.isfinite(p):
                echo(f"{name}: no usable channel; alarm kept")
            rows.append((name, kind, det.decide(float(p), kind)))
        echo(f"{min(start + BATCH, len(names))}/{len(names)} records")
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["record", "alarm_type", "decision"])
        writer.writerows(rows)
    return len(rows)
