"""Shared fixtures: every async test runs on both anyio backends."""

from __future__ import annotations

import pytest

# pytester drives the pytest plugin's tests (tests/replay); pytest only accepts this in the top-level conftest.
pytest_plugins = ["pytester"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
