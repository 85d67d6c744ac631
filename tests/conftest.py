"""Shared fixtures. Unit tests need no service; integration tests use the real local stack."""

from __future__ import annotations

import os

import pytest

# Unit tests must not depend on the developer's environment.
for _name in list(os.environ):
    if _name.startswith("WARDWATCH_") and _name not in ("WARDWATCH_STACK_STATE_DIR",):
        os.environ.pop(_name)

TEST_SECRET = "test-pseudonym-secret-0123456789"


@pytest.fixture
def secret() -> bytes:
    return TEST_SECRET.encode()
