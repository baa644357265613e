"""Fixtures of the FinOps tests: usage answers built by hand, the emulator, and the command line against it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
import viam_billing as vb
from viam_billing_cli import main

NOV_1 = datetime(2026, 11, 1, tzinfo=timezone.utc)
NOV_LAST_SECOND = datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc)
"""How the service dates the end of November: its last second."""

T = vb.UsageCostType


def make_usage(
    sources: Sequence[tuple[vb.SourceType, str, Sequence[tuple[int, float]], float]] = (),
    *,
    subtotal: float | None = None,
    start: datetime | None = NOV_1,
    end: datetime | None = NOV_LAST_SECOND,
) -> vb.GetCurrentMonthUsageResponse:
    """A usage answer: ``sources`` are (source type, tier, [(cost type, cost)], discount); the subtotal defaults to
    the lines minus the discounts, as the service computes it."""
    built = [
        vb.ResourceUsageCostsBySource(
            source_type=kind,
            tier_name=tier,
            resource_usage_costs=vb.ResourceUsageCosts(
                usage_costs=tuple(vb.UsageCost(resource_type=t, cost=c) for t, c in lines), discount=discount
            ),
        )
        for kind, tier, lines, discount in sources
    ]
    if subtotal is None:
        subtotal = round(sum(c for _, _, lines, d in sources for _, c in lines) - sum(s[3] for s in sources), 2)
    return vb.GetCurrentMonthUsageResponse(
        start_date=start, end_date=end, resource_usage_costs_by_source=tuple(built), subtotal=subtotal
    )


def org_usage(
    lines: Sequence[tuple[int, float]], discount: float = 0.0, **kwargs: Any
) -> vb.GetCurrentMonthUsageResponse:
    """Usage of one organization source on tier ``pro``."""
    return make_usage([(vb.SourceType.SOURCE_TYPE_ORG, "pro", lines, discount)], **kwargs)


@pytest.fixture
def emulator() -> Iterator[Any]:
    """An emulator serving on loopback from an event loop in a thread, so the command line can run here."""
    from anyio.from_thread import start_blocking_portal
    from viam_billing_grpc.emulator import Emulator

    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(Emulator()) as running:
        yield running


@pytest.fixture
def cli(monkeypatch, capsys, emulator, tmp_path) -> Callable[..., tuple[int, str, str]]:
    """``cli(*args)``: viam-billing in this process against the emulator, in tmp_path; (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIAM_API_KEY", emulator.api_key)
    monkeypatch.setenv("VIAM_API_KEY_ID", emulator.api_key_id)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("VIAM_PRIMARY_ORG_ID", raising=False)
    monkeypatch.delenv("VIAM_BILLING_ADDRESS", raising=False)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["--address", emulator.address, "--insecure", "--timeout", "20", *args])
        captured = capsys.readouterr()
        return int(exited.value.code or 0), captured.out, captured.err

    return invoke


@pytest.fixture
def process_env(emulator) -> dict[str, str]:
    """The environment a ``viam-billing`` process needs to reach the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIAM_")}
    env.update(VIAM_API_KEY=emulator.api_key, VIAM_API_KEY_ID=emulator.api_key_id, COLUMNS="200",
               VIAM_BILLING_ADDRESS=emulator.address)  # fmt: skip
    return env


def command_line(*args: str) -> list[str]:
    """The real ``viam-billing`` in a fresh interpreter."""
    return [sys.executable, "-m", "viam_billing_cli", *args]
