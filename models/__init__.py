"""Signal processing, early-warning scores and per-patient scoring state.

- :mod:`wardwatch.models.signal`: ECG QRS detection (streaming), PPG pulses, respiration rate,
  motion, signal quality, windowed statistics;
- :mod:`wardwatch.models.news2`: NEWS2 exactly as the RCP 2017 chart;
- :mod:`wardwatch.models.trends`: change, slope and a slowly updating personal baseline;
- :mod:`wardwatch.models.scoring`: one patient's scoring state (the score agent's pure core).

Torch detectors and the note summarizer come with their own issues.
"""

from wardwatch.models.news2 import News2Inputs, News2Result, news2, windowed_inputs
from wardwatch.models.scoring import PatientScorer, ScoringConfig
from wardwatch.models.trends import ChartedRecency, SignalTrend, TrendSnapshot

__all__ = [
    "news2",
    "News2Inputs",
    "News2Result",
    "windowed_inputs",
    "SignalTrend",
    "TrendSnapshot",
    "ChartedRecency",
    "PatientScorer",
    "ScoringConfig",
]
