"""A smoke run of the benchmark harness: every row comes out, with figures or a reason. No timing asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ROWS = [
    "cold-import",
    "unary-asyncio",
    "unary-trio",
    "unary-sdk",
    "concurrent",
    "pdf-throughput",
    "pdf-memory",
    "replay-load",
    "replay-call-asyncio",
    "replay-call-trio",
]
NEEDS_SDK = {"cold-import", "unary-sdk"}


def test_quick_run_reports_every_row(tmp_path: Path) -> None:
    """``python -m benchmarks --quick`` writes a report and JSON with every row, each measured over the runs
    asked for in ``BENCH_RUNS``; only rows needing viam-sdk may lack a figure, and then they say why."""
    env = {**os.environ, "BENCH_RUNS": "3", "BENCH_CONCURRENCY": "7"}
    report, data = tmp_path / "BENCHMARKS.md", tmp_path / "rows.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(report), "--json", str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(data.read_text())}
    assert list(rows) == ROWS
    try:
        import viam.app.billing_client  # noqa: F401

        sdk = True
    except ImportError:
        sdk = False
    for key, row in rows.items():
        assert row["ours"] is not None or key == "unary-sdk", key
        if row["skipped"]:
            assert not sdk, (key, row["skipped"])
            assert key in NEEDS_SDK, (key, row["skipped"])
            assert "viam-sdk is not installed" in row["skipped"]
            assert row["met"] is None
            continue
        assert row["ours"]["median"] > 0 or key == "pdf-memory", key
        assert isinstance(row["met"], bool), key
        if row["target"]["what"] == "ratio":
            assert row["ratio"]["runs"] == row["ours"]["runs"] == row["baseline"]["runs"], key
    assert rows["unary-asyncio"]["ours"]["runs"] == 3  # BENCH_RUNS wins over --quick's count
    assert rows["concurrent"]["figure"].startswith("7 concurrent calls")
    text = report.read_text()
    assert "--quick` smoke run" in text
    for row in rows.values():
        assert f"| {row['figure']} |" in text
    assert "- packages: viam-billing 0.1.0" in text


def test_counts_must_be_positive(tmp_path: Path) -> None:
    """A count of zero in ``BENCH_<NAME>`` is refused, naming the variable, before anything runs."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(tmp_path / "out.md")],
        cwd=ROOT,
        env={**os.environ, "BENCH_CALLS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "BENCH_CALLS must be a positive integer, got '0'" in result.stderr
    assert not (tmp_path / "out.md").exists()
