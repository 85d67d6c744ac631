"""Torch detectors behind one protocol (:class:`Detector`): a batch of windows in, one score per
window out, higher = more anomalous. Built-ins: ``alarm-verifier`` (PhysioNet 2015 arrhythmia
alarm verification), ``af`` (AF rhythm on ECG windows), ``deterioration`` (minute numerics).
Third-party detectors register through the ``wardwatch.detectors`` entry-point group."""

from wardwatch.models.detectors.base import Detector, pick_device
from wardwatch.models.detectors.microbatch import MicroBatcher
from wardwatch.models.detectors.registry import detector_names, get_detector, get_detector_class

__all__ = ["Detector", "pick_device", "get_detector", "get_detector_class", "detector_names", "MicroBatcher"]
