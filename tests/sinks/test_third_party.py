"""The example third-party sink, installed for real and discovered through its entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "third_party_sink"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example installed with pip into a private target directory (never into the running environment)."""
    work = tmp_path_factory.mktemp("third-party")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = shutil.copytree(EXAMPLE, work / "source", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = work / "site"
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)]
    # Offline when the environment has setuptools; otherwise pip fetches the build backend from the index.
    done = subprocess.run([*base, "--no-build-isolation"], capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        subprocess.run(base, capture_output=True, text=True, check=True, timeout=300)
    return target


def _python(installed: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLUMNS": "200",
        "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_the_installed_plugin_is_listed_with_its_distribution(installed, tmp_path):
    result = _python(
        installed,
        """
        import sys, viam_billing
        (found,) = [p for p in viam_billing.list_plugins() if p.name == "threshold"]
        print(found.kind, found.module, found.loaded, "viam_billing_threshold" in sys.modules)
        (info,) = [p for p in viam_billing.list_plugins(load=True) if p.name == "threshold"]
        print(info.distribution, info.version, ",".join(info.sinks), info.error)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    found, loaded = result.stdout.splitlines()
    # Found through its entry point without being imported; imported when asked to load.
    assert found.split() == ["sink", "viam_billing_threshold", "False", "False"]
    assert loaded.split() == ["viam-billing-threshold", "0.1.0", "threshold", "None"]
    listing = _python(installed, "from viam_billing_cli import main; main(['plugins'])", tmp_path)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if "threshold" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells == ["viam_billing_threshold", "viam-billing-threshold", "0.1.0", "sinks: threshold", "loaded"]


def test_the_installed_sink_is_used_beside_the_built_in_ones(installed, tmp_path):
    result = _python(
        installed,
        """
        import anyio, viam_billing as vb

        def handler(operation, request):
            return vb.GetCurrentMonthUsageResponse(subtotal=120.0 if request.org_id == "big" else 5.0)

        async def main():
            sinks = [vb.create_sink("threshold:100@alerts.jsonl"), vb.create_sink("sqlite:h.db")]
            async with vb.BillingClient(vb.MockTransport(handler), sinks=sinks) as billing:
                await billing.get_current_month_usage("big")
                await billing.get_current_month_usage("small")

        anyio.run(main)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [(a["org_id"], a["subtotal"], a["limit"]) for a in alerts] == [("big", 120.0, 100.0)]
    assert (tmp_path / "h.db").is_file()


def test_a_bad_threshold_spec_says_how_to_write_it(installed, tmp_path):
    result = _python(installed, "import viam_billing; viam_billing.create_sink('threshold:lots')", tmp_path)
    assert result.returncode != 0
    assert "threshold:LIMIT or threshold:LIMIT@PATH" in result.stderr
