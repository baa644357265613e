"""A smoke run of the benchmark harness: every row comes out, with figures or a reason. No timing asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks._harness import sdk_available
from benchmarks._imports import LOOPBACK_ONLY, fresh

ROOT = Path(__file__).resolve().parents[2]

ROWS = [
    "cold-import",
    "first-result",
    "unary-asyncio",
    "unary-trio",
    "unary-sdk",
    "concurrent",
    "pdf-throughput",
    "pdf-memory",
    "memory-per-call",
    "otel-no-sdk",
    "otel-sdk",
    "replay-load",
    "replay-call-asyncio",
    "replay-call-trio",
    "export-wall",
    "export-rss-growth",
    "export-speedup",
]
NEEDS_SDK = {"cold-import", "first-result", "unary-sdk"}
GROWTH = {"pdf-memory", "memory-per-call", "export-rss-growth"}  # memory growth: may be <= 0


def test_quick_run_reports_every_row(tmp_path: Path) -> None:
    """``python -m benchmarks --quick`` writes a report and JSON with every row, each measured over the runs
    asked for in ``BENCH_RUNS``; only rows needing viam-sdk may lack a figure, and then they say why."""
    env = {**os.environ, "BENCH_RUNS": "3", "BENCH_CONCURRENCY": "7", "BENCH_IMPORT_RUNS": "2"}
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
    sdk = not sdk_available()
    for key, row in rows.items():
        assert row["ours"] is not None or key == "unary-sdk", key
        if row["skipped"]:
            assert not sdk, (key, row["skipped"])
            assert key in NEEDS_SDK, (key, row["skipped"])
            assert "viam-sdk is not installed" in row["skipped"]
            assert row["met"] is None
            continue
        assert row["ours"]["median"] > 0 or key in GROWTH, key
        assert isinstance(row["met"], bool), key
        if row["target"]["what"] == "ratio":
            assert row["ratio"]["runs"] == row["ours"]["runs"] == row["baseline"]["runs"], key
    assert rows["unary-asyncio"]["ours"]["runs"] == 3  # BENCH_RUNS wins over --quick's count
    assert rows["first-result"]["ours"]["runs"] == rows["cold-import"]["ours"]["runs"] == 2  # BENCH_IMPORT_RUNS
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


def test_only_runs_the_suites_named(tmp_path: Path) -> None:
    """``--only first-result`` measures that row alone (starting the emulator for it), and nothing else."""
    data = tmp_path / "rows.json"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--only", "first-result"]
    result = subprocess.run(
        [*command, "--output", str(tmp_path / "b.md"), "--json", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [row["key"] for row in json.loads(data.read_text())] == ["first-result"]


def test_loopback_guard_stops_any_other_address() -> None:
    """The guard on each probe's first run lets loopback through and kills the probe, naming the address, before
    it resolves or connects to anything else (a documentation address and a Unix socket here)."""
    loopback = (
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\nexcept OSError:\n    pass\n"
    )
    loopback += "print(0.5)"
    assert fresh(LOOPBACK_ONLY + loopback) == 0.5
    for code, named in [
        ("import socket; socket.getaddrinfo('192.0.2.1', 443)", "'192.0.2.1' (socket.getaddrinfo)"),
        ("import socket; socket.socket(socket.AF_UNIX).connect('/nonexistent.sock')", "'/nonexistent.sock'"),
    ]:
        with pytest.raises(SystemExit, match="exit status 97") as failed:
            fresh(LOOPBACK_ONLY + code)
        assert f"the probe tried to reach {named}" in str(failed.value)
        assert "only loopback is allowed" in str(failed.value)
