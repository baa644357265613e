"""The README's quick starts run as written, on asyncio and on trio, against the bundled emulator."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import viam_billing as vb

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("script", ["quickstart_asyncio.py", "quickstart_trio.py"])
def test_quickstart_runs_offline(script: str, tmp_path: Path) -> None:
    """The example prints the usage and invoices and saves a real PDF in the working directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIAM_API_KEY", "VIAM_API_KEY_ID")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "subtotal after discounts, before tax: $160.03" in result.stdout  # Acme Robotics, as seeded
    assert "$   115.78 - $  10.00 = $   105.78" in result.stdout  # its organization usage less its discount
    assert "outstanding balance: $" in result.stdout
    (pdf,) = tmp_path.iterdir()
    assert pdf.suffix == ".pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert f"saved {pdf.name}" in result.stdout


def _load_quickstart() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quickstart_asyncio_under_test", EXAMPLES / "quickstart_asyncio.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
async def test_quickstart_survives_missing_dates_and_a_hostile_invoice_id(tmp_path, monkeypatch, capsys) -> None:
    """No dates prints "?"; an invoice id like ``../x`` is saved inside the working directory, not above it."""
    quickstart = _load_quickstart()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def handler(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        if operation.name == "GetInvoicesSummary":
            return vb.GetInvoicesSummaryResponse(invoices=(vb.InvoiceSummary(id="../x", status="paid"),))
        if operation.name == "GetInvoicePdf":
            return [vb.GetInvoicePdfResponse(chunk=b"%PDF-1.4 %%EOF")]
        return operation.response_type()

    monkeypatch.setattr(
        quickstart.viam_billing, "connect", lambda timeout, **_: vb.BillingClient(vb.MockTransport(handler))
    )
    await quickstart.main(["org-1"])
    assert "? to ?, usage so far:" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    (pdf,) = work.iterdir()
    assert pdf.suffix == ".pdf"
    assert pdf.read_bytes() == b"%PDF-1.4 %%EOF"


def test_the_replay_example_states_its_install_and_it_provides_pytest() -> None:
    """Its tests need pytest: the README installs the extra that brings it."""
    import tomllib

    readme = (EXAMPLES / "replay" / "README.md").read_text()
    assert 'pip install -e ".[test]"' in readme
    extras = tomllib.loads((EXAMPLES.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(requirement.startswith("pytest") for requirement in extras["test"])
