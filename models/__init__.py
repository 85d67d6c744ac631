"""Signal processing, early-warning scores, torch detectors and the note summarizer.

Empty in the walking skeleton: signal agents and NEWS2 arrive with issue 4, detectors with
issue 5, the summarizer with issue 7.
"""

__all__: list[str] = []
