"""Integration tests: Tasks that reach real services (moto's server, local HTTP servers, other steplines)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
