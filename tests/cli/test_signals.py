"""Ctrl-C and SIGTERM, sent for real to a real ``viam-billing`` process in the middle of a download: exit 130 and
143, the download stops on the wire within about a second, and no file or temporary file is left."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import command_line

pytest.importorskip("viam_billing_grpc.emulator", reason="the grpc plugin's emulator is not installed")

from viam_billing_grpc.emulator import ACME_ORG_ID
from viam_billing_grpc.emulator.__main__ import large_pdf

LARGE = "inv-acme-huge"


@pytest.fixture
def large_invoice(emulator) -> str:
    """A 48 MiB invoice PDF, which the emulator streams in 512-byte chunks: a download of several seconds."""
    emulator.add_invoice(ACME_ORG_ID, amount=1.0, status="paid", invoice_id=LARGE, pdf=large_pdf(48 << 20))
    return LARGE


def _temporary_files(directory: Path) -> list[Path]:
    return list(directory.rglob(".*.part"))


def _interrupt_mid_download(process: subprocess.Popen[bytes], watched: Path, signum: int) -> float:
    """Wait until a temporary download file in ``watched`` has data, send ``signum``; seconds until it exited."""
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 0 for p in _temporary_files(watched)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.02)
    sent = time.monotonic()
    process.send_signal(signum)
    process.wait(timeout=30)
    return time.monotonic() - sent


@pytest.mark.parametrize(
    ("signum", "backend"),
    [(signal.SIGINT, "asyncio"), (signal.SIGTERM, "asyncio"), (signal.SIGTERM, "trio")],
    ids=["SIGINT", "SIGTERM", "SIGTERM-trio"],
)
def test_a_signal_stops_invoice_pdf_at_once_and_leaves_nothing(emulator, cli_env, tmp_path, large_invoice, signum,
                                                               backend):  # fmt: skip
    args = command_line("--insecure", "--backend", backend, "invoice-pdf", ACME_ORG_ID, large_invoice, "-o", "big.pdf")
    process = subprocess.Popen(args, cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = _interrupt_mid_download(process, tmp_path, signum)
    _, err = process.communicate()
    assert process.returncode == 128 + signum
    assert took < 2.0, f"exited {took:.2f} s after the signal"
    assert f"interrupted ({signal.Signals(signum).name})" in err.decode()
    assert list(tmp_path.iterdir()) == []  # neither big.pdf nor a temporary file
    deadline = time.monotonic() + 5
    while emulator.cancelled["GetInvoicePdf"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emulator.cancelled["GetInvoicePdf"] == 1  # the download stopped on the wire, not just on our side


def test_a_signal_stops_an_export_and_leaves_whole_files_only(emulator, cli_env, tmp_path, large_invoice):
    args = command_line("--insecure", "export", "--org", ACME_ORG_ID, "--sink", "pdf:p", "--sink", "sqlite:h.db")
    process = subprocess.Popen(args, cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = _interrupt_mid_download(process, tmp_path / "p", signal.SIGTERM)
    process.communicate()
    assert process.returncode == 143
    assert took < 2.0, f"exited {took:.2f} s after the signal"
    assert _temporary_files(tmp_path) == []
    assert not (tmp_path / "p" / ACME_ORG_ID / f"{large_invoice}.pdf").exists()
    assert all(p.read_bytes().endswith(b"%%EOF\n") for p in (tmp_path / "p").rglob("*.pdf"))
    with sqlite3.connect(tmp_path / "h.db") as conn:  # closed properly: readable, and back to one file
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
