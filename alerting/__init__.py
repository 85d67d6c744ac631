"""Alarm rules, IEC 60601-1-8 priorities, the alarm state machine, escalation, channels, audit log.

Empty in the walking skeleton: the alerting issue (6) fills it.
"""

__all__: list[str] = []
