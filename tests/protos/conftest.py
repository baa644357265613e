"""Fixtures for the protobuf tests: a fresh interpreter for checks that must not see this process's imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

RunPython = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_python(tmp_path: os.PathLike[str]) -> RunPython:
    """Run a script in a new interpreter of this environment; fail the test, with its output, if it fails.

    Imports, descriptor pools and protobuf's backend choice are per process, so import-order and "what did this
    import load" checks need a process of their own. ``env`` entries are added to this process's environment.
    """

    def run(script: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            cwd=tmp_path,  # not the checkout, so only installed packages are importable
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"subprocess failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    return run
