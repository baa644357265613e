"""``python -m viam_billing_grpc.emulator``: serve the billing emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ._emulator import DEFAULT_API_KEY, DEFAULT_API_KEY_ID, Emulator
from ._pdf import invoice_pdf
from ._seed import ACME_ORG_ID

LARGE_INVOICE_ID = "inv-acme-large"
"""The invoice ``--large-pdf-mib N`` adds to Acme Robotics (status ``paid``)."""


def large_pdf(size: int) -> bytes:
    """A valid one-page invoice PDF of exactly ``size`` bytes (at least the unpadded document's size)."""
    title, lines = f"Invoice {LARGE_INVOICE_ID}", [f"A padded document of {size:,} bytes, for download benchmarks."]
    pdf = invoice_pdf(title, lines)
    padding = size - len(pdf)
    # Padding also lengthens the /Length number and adds a newline: a few rounds settle on the exact size.
    while padding > 0 and len(pdf) != size:
        pdf = invoice_pdf(title, lines, padding=padding)
        padding += size - len(pdf)
    return pdf


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m viam_billing_grpc.emulator",
        description="Serve a local emulator of Viam's billing service (gRPC, plaintext HTTP/2).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default: 8080)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("VIAM_EMULATOR_API_KEY", DEFAULT_API_KEY),
        help="API key to accept (default: $VIAM_EMULATOR_API_KEY, else the documented DEFAULT_API_KEY)",
    )
    parser.add_argument(
        "--api-key-id",
        default=os.environ.get("VIAM_EMULATOR_API_KEY_ID", DEFAULT_API_KEY_ID),
        help="API key id to accept (default: $VIAM_EMULATOR_API_KEY_ID, else DEFAULT_API_KEY_ID)",
    )
    parser.add_argument("--token-ttl", type=float, default=None, help="seconds before an access token expires")
    parser.add_argument("--chunk-size", type=int, default=512, help="bytes per streamed PDF chunk (default: 512)")
    parser.add_argument(
        "--large-pdf-mib",
        type=int,
        default=0,
        metavar="N",
        help=f"also serve invoice {LARGE_INVOICE_ID} of Acme Robotics with an N MiB PDF (for download benchmarks)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each connection and fault at DEBUG")
    args = parser.parse_args(argv)
    if args.large_pdf_mib < 0:
        parser.error(f"--large-pdf-mib must be 0 or more, got {args.large_pdf_mib}")
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")

    def ready(emulator: Emulator) -> None:
        if args.large_pdf_mib:
            pdf = large_pdf(args.large_pdf_mib << 20)
            emulator.add_invoice(ACME_ORG_ID, amount=1.0, status="paid", invoice_id=LARGE_INVOICE_ID, pdf=pdf)
        defaults = emulator.api_key == DEFAULT_API_KEY and emulator.api_key_id == DEFAULT_API_KEY_ID
        print(f"viam-billing emulator listening on {emulator.address}", flush=True)
        print(
            "credentials: " + ("the documented defaults (see --help)" if defaults else "as given"),
            "; connect with insecure=True; Ctrl-C stops",
            sep="",
            flush=True,
        )
        if args.large_pdf_mib:
            print(f"large invoice: {LARGE_INVOICE_ID} of {ACME_ORG_ID}, {args.large_pdf_mib} MiB PDF", flush=True)

    try:
        Emulator.run(
            args.host,
            args.port,
            ready=ready,
            api_key=args.api_key,
            api_key_id=args.api_key_id,
            token_ttl=args.token_ttl,
            chunk_size=args.chunk_size,
        )
    except OSError as exc:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
