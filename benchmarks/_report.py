"""BENCHMARKS.md: the machine, then one table row per figure with its baseline, ratio and target."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata

from ._harness import Row, Settings, Stats

PACKAGES = ("viam-billing", "viam-sdk", "grpclib", "h2", "protobuf", "anyio", "trio", "attrs", "pluggy")
_OPS = {"<=": "≤", "<": "<", ">=": "≥"}


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    try:
        from google.protobuf.internal import api_implementation

        backend = api_implementation.Type()
    except Exception:  # pragma: no cover - protobuf is always there
        backend = "?"
    versions = []
    for name in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        versions.append(f"{name} {version}" + (f" ({backend} backend)" if name == "protobuf" else ""))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": f"{os.cpu_count()} ({usable} usable by this process)",
        "cpu": _cpu_model(),
        "memory": _memory(),
        "system": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "packages": ", ".join(versions),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(info.readline().split()[1])
        return f"{kib / (1 << 20):.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _stats(stats: Stats | None, unit: str) -> str:
    if stats is None:
        return "—"
    return f"{_number(stats.median)} {unit} ({_number(stats.low)} to {_number(stats.high)})"


def _ratio(stats: Stats | None) -> str:
    if stats is None:
        return "—"
    return f"**{stats.median:.3f}** ({stats.low:.3f} to {stats.high:.3f})"


def _met(row: Row) -> str:
    if row.skipped:
        return "not measured"
    return {True: "yes", False: "**NO**", None: "—"}[row.met]


def render(rows: Sequence[Row], settings: Settings, *, quick: bool, started: datetime) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `nox -s bench` (`python -m benchmarks`); do not edit by hand, run it again."
        + (" **This is a `--quick` smoke run: its figures mean nothing.**" if quick else ""),
        "",
        f"Run of {started.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in machine().items()]
    lines += [
        "",
        "## Figures",
        "",
        "Each figure is the median over repeated runs, with (min to max) after it. A ratio is ours / baseline,"
        " taken run by run between figures measured side by side in the same run (call by call, or in alternating"
        " blocks), then summarised the same way. The emulator (`python -m viam_billing_grpc.emulator`) serves every"
        " call from a separate process on loopback.",
        "",
        "| figure | ours | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = "—"
        if row.baseline is not None:
            baseline = f"{row.baseline_name}: {_stats(row.baseline, row.unit)}"
        elif row.baseline_name:
            baseline = f"{row.baseline_name}: not measured"
        what = "ratio" if row.target.what == "ratio" else "ours"
        limit = _number(row.target.limit) + ("" if row.target.what == "ratio" else f" {row.unit}")
        target = f"{what} {_OPS[row.target.op]} {limit}"
        lines.append(
            f"| {row.figure} | {_stats(row.ours, row.unit)} | {baseline} | {_ratio(row.ratio)} | {target} | "
            f"{_met(row)} |"
        )
    lines += ["", "## How each figure was made", ""]
    for row in rows:
        runs = row.ours.runs if row.ours is not None else 0
        text = f"- **{row.figure}** ({runs} runs): {row.note}."
        if row.skipped:
            text += f" Not measured: {row.skipped}."
        lines.append(text)
    counts = ", ".join(f"{field.name}={getattr(settings, field.name)}" for field in dataclasses.fields(settings))
    lines += ["", f"Settings: {counts} (each can be set with `BENCH_<NAME>`).", ""]
    return "\n".join(lines)
