"""The example suite in examples/replay: it replays offline, and its cassettes are what the emulator gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

# Imported once here, before any in-process pytest run: pytester forgets the modules a run imported, and
# protobuf's C extension crashes when its modules are imported a second time in one process.
import viam_billing_grpc.emulator  # noqa: F401

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "replay"
CASSETTES = Path("tests") / "cassettes" / "test_billing_report"


@pytest.fixture
def example(pytester: pytest.Pytester) -> pytest.Pytester:
    """A copy of the example project, as its user would have it checked out."""
    for item in EXAMPLE.iterdir():
        if item.is_dir():
            shutil.copytree(item, pytester.path / item.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, pytester.path / item.name)
    return pytester


def snapshot(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((root / CASSETTES).iterdir())}


def comparable(raw: bytes) -> list[dict[str, Any]]:
    """The interactions without what legitimately changes between recordings (timings, today's date)."""
    interactions = json.loads(raw)["interactions"]
    for interaction in interactions:
        interaction.pop("duration")
        if interaction["operation"] == "ChargeOrganization":
            interaction["request"].pop("description")
    return interactions


def test_the_example_replays_offline_from_its_committed_cassettes(example: pytest.Pytester) -> None:
    """Every example test passes on both backends with no emulator, plays every interaction, changes no file."""
    before = snapshot(example.path)
    assert len(before) == 6
    result = example.runpytest("-p", "no:hypothesispytest", "--billing-unplayed=error")
    result.assert_outcomes(passed=12)
    assert snapshot(example.path) == before


def test_the_example_cassettes_match_a_fresh_recording_from_the_emulator(example: pytest.Pytester) -> None:
    """Re-recording with --billing-record-mode=all gives the committed interactions: the cassettes are not stale."""
    before = snapshot(example.path)
    result = example.runpytest("-p", "no:hypothesispytest", "--billing-record-mode=all")
    result.assert_outcomes(passed=12)
    after = snapshot(example.path)
    assert sorted(after) == sorted(before)
    for name in before:
        assert comparable(after[name]) == comparable(before[name]), (
            f"{name} differs from a fresh recording: re-record with "
            "`cd examples/replay && python -m pytest --billing-record-mode=all`"
        )
