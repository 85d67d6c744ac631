"""Pure signal processing over numpy arrays: no Kafka, no I/O.

- ECG: :class:`StreamingQRSDetector` (chunk by chunk, the live pipeline's way) and
  :func:`detect_qrs` (a whole record, the same detector), RR intervals, heart rate;
- PPG: :class:`StreamingPulseDetector`, :func:`detect_pulses`, pulse rate, perfusion index;
- signal quality in [0, 1]: :func:`ecg_sqi`, :func:`ppg_sqi`;
- respiratory rate from a RESP channel and from PPG/ECG surrogates;
- motion level from a wearable accelerometer and the threshold for the ``motion`` flag;
- windowed median and robust spread of numeric streams (:class:`RollingStats`);
- :func:`match_beats`, the beat-by-beat comparison used by the benchmark and the tests.

Every value that cannot be computed is NaN; units are in the names (``hr_bpm``, ``fs_hz``).
Accuracy on real recordings: ``bench/reports/qrs.md``.
"""

from wardwatch.models.signal.ecg import QRSConfig, StreamingQRSDetector, detect_qrs, heart_rate_bpm, rr_intervals_s
from wardwatch.models.signal.metrics import BeatMatch, match_beats
from wardwatch.models.signal.motion import MOTION_THRESHOLD_MS2, StreamingMotionMeter, is_motion, motion_level_ms2
from wardwatch.models.signal.ppg import (
    PulseConfig,
    Pulses,
    StreamingPulseDetector,
    detect_pulses,
    perfusion_index_pct,
    pulse_rate_bpm,
)
from wardwatch.models.signal.quality import ecg_sqi, ppg_sqi
from wardwatch.models.signal.resp import resp_rate_from_ecg, resp_rate_from_ppg, respiration_rate_bpm
from wardwatch.models.signal.windows import RollingStats

__all__ = [
    "QRSConfig",
    "StreamingQRSDetector",
    "detect_qrs",
    "rr_intervals_s",
    "heart_rate_bpm",
    "PulseConfig",
    "Pulses",
    "StreamingPulseDetector",
    "detect_pulses",
    "pulse_rate_bpm",
    "perfusion_index_pct",
    "ecg_sqi",
    "ppg_sqi",
    "respiration_rate_bpm",
    "resp_rate_from_ppg",
    "resp_rate_from_ecg",
    "MOTION_THRESHOLD_MS2",
    "StreamingMotionMeter",
    "motion_level_ms2",
    "is_motion",
    "RollingStats",
    "BeatMatch",
    "match_beats",
]
