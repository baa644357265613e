"""The header blocks the transport sends: decoded by a standard HPACK decoder, call after call, they are the
headers given; unchanged ones are sent again byte for byte, and grpc-timeout never enters the table."""

from __future__ import annotations

import random

from hpack import Decoder, Encoder, NeverIndexedHeaderTuple
from viam_billing_grpc._connection import BlockReusingEncoder

HEADERS = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/viam.app.v1.BillingService/GetCurrentMonthUsage"),
    (b":authority", b"127.0.0.1:8080"),
    (b"te", b"trailers"),
    (b"content-type", b"application/grpc"),
    (b"grpc-timeout", b"100m"),
    (b"authorization", b"Bearer first-token"),
]
PATHS = [b"/viam.app.v1.BillingService/GetInvoicesSummary", b"/viam.app.v1.BillingService/GetInvoicePdf"]


def sent(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """What the server reads: the headers in order, grpc-timeout last."""
    return [h for h in headers if h[0] != b"grpc-timeout"] + [h for h in headers if h[0] == b"grpc-timeout"]


def test_every_block_decodes_to_its_headers_through_table_changes() -> None:
    """300 calls with a new timeout each, three paths, a new token at call 100, the table made smaller at 150 and
    tiny (nothing fits) at 200, then normal again at 250: a standard decoder reads every block right."""
    encoder, decoder = BlockReusingEncoder(), Decoder()
    chance = random.Random(7)
    headers = list(HEADERS)
    for call in range(300):
        headers[6] = (b"grpc-timeout", f"{chance.randint(1, 99_999_999)}u".encode())
        headers[2] = (b":path", chance.choice([HEADERS[2][1], *PATHS]))
        if call == 100:
            headers[7] = (b"authorization", b"Bearer second-token")
        if call in (150, 200, 250):
            encoder.header_table_size = {150: 1024, 200: 64, 250: 4096}[call]
        assert decoder.decode(encoder.encode(iter(headers)), raw=True) == sent(headers), call
        assert all(name != b"grpc-timeout" for name, _ in decoder.header_table.dynamic_entries)


def test_unchanged_headers_are_sent_again_byte_for_byte() -> None:
    """Once every header but the timeout is in the table, each block is one index byte per header, the same
    bytes call after call, then the timeout as a never-indexed literal; a new token is named in full once, then
    the blocks are steady again (with the indexes the new entry moved)."""
    encoder, decoder = BlockReusingEncoder(), Decoder()

    def call(number: int, token: bytes = b"Bearer first-token") -> bytes:
        """The block of one call, without its timeout (checked to end the block, never indexed)."""
        timeout = f"{1000 + number}m".encode()
        headers = [*HEADERS[:6], (b"grpc-timeout", timeout), (b"authorization", token)]
        block = encoder.encode(headers)
        assert decoder.decode(block, raw=True) == sent(headers)
        literal = Encoder().encode([NeverIndexedHeaderTuple(b"grpc-timeout", timeout)], huffman=False)
        assert block.endswith(literal)
        return block[: -len(literal)]

    first = call(0)
    steady = {call(n) for n in range(1, 6)}
    assert len(steady) == 1
    assert len(next(iter(steady))) == 7
    assert len(first) > 60  # the first named its headers in full
    renewed = call(6, b"Bearer renewed")
    assert len(renewed) > 7 + 8  # the new token, in full
    again = {call(n, b"Bearer renewed") for n in range(7, 12)}
    assert len(again) == 1
    assert len(next(iter(again))) == 7
    assert again != steady
