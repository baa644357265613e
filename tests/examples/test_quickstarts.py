"""The README's quick starts run as written, on asyncio and on trio, against the bundled emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("script", ["quickstart_asyncio.py", "quickstart_trio.py"])
def test_quickstart_runs_offline(script: str, tmp_path: Path) -> None:
    """The example prints the usage and invoices and saves a real PDF in the working directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIAM_API_KEY", "VIAM_API_KEY_ID")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "subtotal $" in result.stdout
    assert "outstanding balance: $" in result.stdout
    (pdf,) = tmp_path.iterdir()
    assert pdf.suffix == ".pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert f"saved {pdf.name}" in result.stdout
