"""Adapter tests: the conformance suite (conformance.py) and each adapter's use of it."""
