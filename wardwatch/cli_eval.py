"""``wardwatch eval``: run the project's signal processing over recordings, offline.

``wardwatch eval qrs RECORD --out FILE`` feeds one ECG lead to the streaming QRS detector in
1-s chunks, exactly as the live pipeline does, and writes the R-peak sample indices, one per line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

__all__ = ["eval_group", "read_ecg"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def read_ecg(record: str, channel: str | None, fs_hz: float | None) -> tuple[NDArray[np.float64], float, str]:
    """One ECG lead of a WFDB record (path without extension) or a CPSC 2019-style ``.mat``.

    Returns the samples, the sampling rate and the channel's name. Raises
    :class:`click.BadParameter` naming the argument or option that is wrong.
    """
    if record.endswith(".mat"):
        path = Path(record)
        if not path.is_file():
            raise click.BadParameter(f"no such file: {record}", param_hint="RECORD")
        if fs_hz is None:
            raise click.BadParameter("is required for a .mat record (it does not store the sampling rate)", param_hint="--fs")
        from scipy.io import loadmat

        data = loadmat(str(path))
        key = channel or "ecg"
        if key not in data:
            keys = sorted(k for k in data if not k.startswith("__"))
            raise click.BadParameter(f"{record} has no variable {key!r}; it has {keys}", param_hint="--channel")
        return np.asarray(data[key], dtype=np.float64).ravel(), float(fs_hz), key

    import wfdb

    header = Path(record + ".hea")
    if not header.is_file():
        raise click.BadParameter(f"no WFDB header {header} (give the record path without extension)", param_hint="RECORD")
    rec = wfdb.rdrecord(record)
    names = list(rec.sig_name)
    if channel is None:
        index = 0
    elif channel in names:
        index = names.index(channel)
    else:
        raise click.BadParameter(f"{channel!r} is not a channel of {record}; it has {names}", param_hint="--channel")
    if fs_hz is not None and abs(fs_hz - float(rec.fs)) > 1e-9:
        raise click.BadParameter(f"{fs_hz:g} Hz differs from the record's {float(rec.fs):g} Hz", param_hint="--fs")
    signal = rec.p_signal[:, index] if rec.p_signal is not None else np.zeros(0)
    return np.asarray(signal, dtype=np.float64), float(rec.fs), names[index]


@click.group("eval", context_settings=_CONTEXT)
def eval_group() -> None:
    """Run WardWatch's signal processing over recordings (offline evaluation)."""


@eval_group.command("qrs")
@click.argument("record")
@click.option("--channel", default=None, help="Channel name (WFDB) or variable (.mat) [default: first channel / 'ecg'].")
@click.option("--fs", "fs_hz", type=float, default=None, help="Sampling rate in Hz (required for .mat records).")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True,
              help="File to write the R-peak sample indices to, one per line.")
def eval_qrs(record: str, channel: str | None, fs_hz: float | None, out: Path) -> None:
    """Detect QRS complexes in RECORD with the streaming detector fed 1-s chunks.

    RECORD is a WFDB record path without extension (as wfdb.rdrecord takes it) or a .mat file
    holding the lead in the variable 'ecg' (CPSC 2019 layout; then --fs is required).
    """
    from wardwatch.models.signal.ecg import StreamingQRSDetector

    if fs_hz is not None and not fs_hz > 0:
        raise click.BadParameter(f"must be > 0, got {fs_hz:g}", param_hint="--fs")
    signal, fs, name = read_ecg(record, channel, fs_hz)
    detector = StreamingQRSDetector(fs)
    step = max(int(round(fs)), 1)
    found = [detector.process(signal[k:k + step]) for k in range(0, signal.size, step)]
    found.append(detector.flush())
    peaks = np.concatenate(found).astype(np.int64)
    out.write_text("".join(f"{p}\n" for p in peaks))
    click.echo(f"{peaks.size} R peaks in {signal.size / fs:.1f} s of {name} at {fs:g} Hz -> {out}")
