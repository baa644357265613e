"""``python -m benchmarks``: run every benchmark and write BENCHMARKS.md (``nox -s bench`` does this)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import _export_scale, _imports, _memory_per_call, _otel_overhead, _pdf, _replay, _unary
from ._harness import Row, Settings, emulator_process
from ._report import render

SUITES = ("imports", "first-result", "unary", "pdf", "memory-per-call", "otel-overhead", "replay", "export-scale")
SERVED = ("first-result", "unary", "pdf", "memory-per-call", "otel-overhead")  # the suites that need the emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run of a few seconds")
    parser.add_argument("--output", default="BENCHMARKS.md", help="the Markdown report to write (default: %(default)s)")
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    parser.add_argument("--only", nargs="+", choices=SUITES, default=list(SUITES), help="run only these suites")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a measured figure misses its target")
    args = parser.parse_args(argv)
    settings = (Settings.quick() if args.quick else Settings()).from_environment()
    # Every figure but otel-overhead's is that of an installation without the otel extra; that suite registers the
    # plugin itself. Set here, so that the fresh processes of the other suites inherit it.
    os.environ.setdefault("VIAM_BILLING_BLOCK_PLUGINS", "otel")
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()

    rows: list[Row] = []

    def done(new: list[Row]) -> None:
        for row in new:
            verdict = "skipped" if row.skipped else {True: "met", False: "MISSED", None: "-"}[row.met]
            figure = row.ratio if row.target.what == "ratio" else row.ours
            shown = f"{figure.median:.3f}" if figure is not None else "-"
            print(f"  {row.key:22} {shown:>10}  {verdict}", flush=True)
        rows.extend(new)

    if "imports" in args.only:
        print("cold import ...", flush=True)
        done(_imports.cold_import(settings))
    if any(suite in args.only for suite in SERVED):
        with emulator_process(settings) as emulator:
            if "first-result" in args.only:
                print(f"first result in a fresh process, from the emulator at {emulator.address} ...", flush=True)
                done(_imports.first_result(emulator, settings))
            if "unary" in args.only:
                print(f"unary calls against the emulator at {emulator.address} ...", flush=True)
                done(_unary.run(emulator, settings))
            if "pdf" in args.only:
                print(f"{settings.pdf_mib} MiB invoice PDF ...", flush=True)
                done(_pdf.run(emulator, settings))
            if "memory-per-call" in args.only:
                print(f"memory kept per call, {_memory_per_call.calls_for(settings):,} calls ...", flush=True)
                done(_memory_per_call.run(emulator, settings))
            if "otel-overhead" in args.only:
                print("what the otel plugin adds to a call, without and with an SDK ...", flush=True)
                done(_otel_overhead.run(emulator, settings))
    if "replay" in args.only:
        print("replay ...", flush=True)
        done(_replay.run(settings))
    if "export-scale" in args.only:  # serves itself: an emulator with generated organizations and a latency
        print("export at scale, against an emulator answering after a latency ...", flush=True)
        done(_export_scale.run(settings))

    Path(args.output).write_text(render(rows, settings, quick=args.quick, started=started), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps([row.as_dict() for row in rows], indent=2), encoding="utf-8")
    missed = [row.key for row in rows if row.met is False]
    print(f"wrote {args.output} in {time.perf_counter() - clock:.0f} s; targets missed: {', '.join(missed) or 'none'}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
