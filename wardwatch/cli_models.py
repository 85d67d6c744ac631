"""CLI commands of the torch detectors (issue 5).

- ``wardwatch detectors list``: every registered detector, its window shape and what it scores;
- ``wardwatch train DETECTOR``: train one built-in detector on ``../shared/data`` (CPU, minutes),
  write its weights and metrics; the committed weights were made by exactly this command;
- ``wardwatch eval challenge2015 --data DIR --out FILE``: keep (1) or suppress (0) each alarm of a
  folder of PhysioNet 2015-format records (the verdict in the header is never read);
- ``wardwatch eval af --data DIR --out FILE``: label every CinC 2017-format ``.mat`` record
  N, A, O or ~.

Each command imports its detector lazily, so ``wardwatch --help`` does not load torch.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

__all__ = ["register", "TRAINERS"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}

#: detector name -> module with ``train(data_dir: Path, out_dir: Path, seed: int, echo) -> dict``.
TRAINERS: dict[str, str] = {
    "alarm-verifier": "wardwatch.models.detectors.alarm_verifier_train",
    "af": "wardwatch.models.detectors.af_train",
    "deterioration": "wardwatch.models.detectors.deterioration_train",
}

_DEFAULT_DATA = Path("../shared/data")


@click.group("detectors", context_settings=_CONTEXT)
def detectors_group() -> None:
    """Torch detectors: list what is registered."""


@detectors_group.command("list")
def list_detectors() -> None:
    """Every registered detector (built-ins and ``wardwatch.detectors`` entry points)."""
    from wardwatch.models.detectors import detector_names, get_detector_class

    for name in detector_names():
        cls = get_detector_class(name)
        shape = "x".join(str(n) for n in cls.window_shape)
        click.echo(f"{name:16} window {shape:12} {cls.description}")


@click.command("train", context_settings=_CONTEXT)
@click.argument("detector", type=click.Choice(sorted(TRAINERS)))
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=_DEFAULT_DATA,
              show_default=True, help="The shared recordings folder (challenge2015/, cinc2017/, cpsc2021/, mimic-mitdb/).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write weights and metrics. Default: the package's weights folder (replaces the shipped weights).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (folds, initialisation).")
def train(detector: str, data_dir: Path, out_dir: Path | None, seed: int) -> None:
    """Train DETECTOR on the shared recordings and print its cross-validated metrics."""
    if not data_dir.is_dir():
        raise click.BadParameter(f"no such folder: {data_dir}", param_hint="--data")
    module = importlib.import_module(TRAINERS[detector])
    if out_dir is None:
        out_dir = Path(importlib.import_module("wardwatch.models.detectors").__file__).parent / "weights"
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = module.train(data_dir, out_dir, seed, click.echo)
    click.echo(json.dumps(metrics, indent=2, sort_keys=True, default=float))


@click.command("challenge2015", context_settings=_CONTEXT)
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of 2015-format records (.hea/.mat); the alarm type is read from each header.")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write: record,alarm_type,decision (1 = keep the alarm, 0 = suppress).")
def challenge2015(data_dir: Path, out_file: Path) -> None:
    """Keep or suppress each arrhythmia alarm of a folder of PhysioNet 2015 records."""
    from wardwatch.models.detectors.alarm_verifier_eval import run

    n = run(data_dir, out_file, click.echo)
    click.echo(f"wrote {n} decisions to {out_file}")


@click.command("af", context_settings=_CONTEXT)
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of CinC 2017-format records (.mat, 300 Hz, key 'val').")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write: record,label (N, A, O or ~).")
def af(data_dir: Path, out_file: Path) -> None:
    """Label every CinC 2017-format ECG record: N normal, A AF, O other rhythm, ~ noisy."""
    from wardwatch.models.detectors.af_eval import run

    n = run(data_dir, out_file, click.echo)
    click.echo(f"wrote {n} labels to {out_file}")


def register(cli: click.Group) -> None:
    """Add ``detectors``, ``train`` and the ``eval challenge2015|af`` sub-commands."""
    from wardwatch.cli_eval import eval_group

    cli.add_command(detectors_group)
    cli.add_command(train)
    eval_group.add_command(challenge2015)
    eval_group.add_command(af)
