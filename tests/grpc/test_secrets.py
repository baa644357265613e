"""Credentials that cannot be sent are refused where they are given, with an error that names the problem and
never shows the value: in no ``str``, ``repr`` or traceback."""

from __future__ import annotations

import traceback
from typing import Any

import anyio
import pytest
import viam_billing as vb
from viam_billing_grpc import GrpcTransport
from viam_billing_protos._generated import auth_pb

ODD = {
    "trailing-newline": ("s3cr3t-Value-0123456789\n", "a line break (\\n) at its end"),
    "nul": ("s3cr3t-Val\x00ue-0123456789", "a NUL character at position 10"),
    "del": ("s3cr3t-Value-0123456789\x7f", "a DEL character at its end"),
    "non-ascii": ("s3cr3t-Välue-0123456789", "a character outside ASCII at position 8"),
    "lone-surrogate": ("s3cr3t-Value-\ud800-0123456789", "a lone surrogate"),
    "leading-space": (" s3cr3t-Value-0123456789", "a space at its start"),
    "carriage-return": ("s3cr3t-Value-0123456789\r\n", "a carriage return (\\r) at position 23"),
}


def shown_anywhere(error: BaseException) -> str:
    """Everything a user or a log could see of ``error``: str, repr and the whole formatted traceback (with its
    causes and contexts), and the same of every exception in the chain."""
    parts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def leaks(secret: str, text: str) -> bool:
    """Whether ``text`` shows ``secret`` or any long piece of it (a repr escapes the odd character)."""
    core = secret.strip()[:12]
    return secret in text or core in text or secret.encode("unicode_escape").decode() in text


def caught(build: Any) -> vb.ConfigurationError:
    with pytest.raises(vb.ConfigurationError) as info:
        build()
    return info.value


@pytest.mark.parametrize(("value", "problem"), ODD.values(), ids=ODD.keys())
@pytest.mark.parametrize("where", ["access_token", "api_key", "api_key_id"])
def test_odd_credentials_are_refused_without_showing_them(where: str, value: str, problem: str) -> None:
    """connect() refuses the credential at once, naming the argument and the problem, and nothing shows it."""
    options = {"access_token": value} if where == "access_token" else {"api_key": "key-0", "api_key_id": "id-0"}
    if where != "access_token":
        options[where] = value
    error = caught(lambda: vb.connect(address="127.0.0.1:1", insecure=True, **options))
    assert str(error).startswith(f"{where} contains {problem}")
    assert "not shown" in str(error)
    assert not leaks(value, shown_anywhere(error))


@pytest.mark.parametrize(("value", "problem"), ODD.values(), ids=ODD.keys())
@pytest.mark.parametrize("variable", ["VIAM_API_KEY", "VIAM_API_KEY_ID"])
def test_odd_credentials_from_the_environment_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    """The environment variable is named; its value is not shown."""
    monkeypatch.setenv("VIAM_API_KEY", "key-0")
    monkeypatch.setenv("VIAM_API_KEY_ID", "id-0")
    if "\x00" in value or "\ud800" in value:  # the environment cannot hold these: the mapping is passed directly
        from viam_billing_grpc._auth import resolve_credentials

        error = caught(
            lambda: resolve_credentials(environ={"VIAM_API_KEY": "k", "VIAM_API_KEY_ID": "i", variable: value})
        )
    else:
        monkeypatch.setenv(variable, value)
        error = caught(lambda: GrpcTransport("127.0.0.1:1", insecure=True))
    assert str(error).startswith(f"the environment variable {variable} contains {problem}")
    assert not leaks(value, shown_anywhere(error))


@pytest.mark.parametrize(("value", "problem"), ODD.values(), ids=ODD.keys())
def test_odd_metadata_values_of_a_channel_are_refused(value: str, problem: str) -> None:
    """from_channel's metadata is checked the same way."""
    from viam_billing_grpc._auth import Credentials

    error = caught(lambda: Credentials.from_metadata({"authorization": value}))
    assert problem in str(error)
    assert "'authorization'" in str(error)
    assert not leaks(value, shown_anywhere(error))


def test_metadata_keys_grpc_cannot_send_are_refused() -> None:
    """Keys are named (they are not secret) with the rule they break."""
    from viam_billing_grpc._auth import Credentials

    for key in ("bad key", "grpc-timeout", "x-bin", "te"):
        with pytest.raises(vb.ConfigurationError, match="cannot be sent"):
            Credentials.from_metadata({key: "v"})


# What can arrive in a protobuf message: valid UTF-8, so no lone surrogate.
FROM_THE_WIRE = {name: odd for name, odd in ODD.items() if name != "lone-surrogate"}


@pytest.mark.parametrize(("value", "problem"), FROM_THE_WIRE.values(), ids=FROM_THE_WIRE.keys())
async def test_a_token_from_the_handshake_that_cannot_be_sent_is_refused_unshown(
    h2_server, value: str, problem: str
) -> None:
    """The service answers Authenticate with an odd token: the call fails with a ProtocolError naming the problem,
    and the token shows nowhere (before, grpclib's ValueError quoted 'Bearer <token>')."""

    async def script(connection: Any) -> None:
        while True:
            request = await connection.request()
            if request.name != "Authenticate":
                await connection.serve(request)
                continue
            reply = auth_pb.AuthenticateResponse(access_token=value)
            await connection.answer(request, reply.SerializeToString())

    async with (
        h2_server(script) as server,
        vb.connect(address=server.address, api_key="key-0", api_key_id="id-0", insecure=True, timeout=10) as billing,
    ):
        with anyio.fail_after(5), pytest.raises(vb.ProtocolError, match="cannot be sent in an HTTP/2 header") as info:
            await billing.get_available_billing_tiers()
    error = info.value
    assert error.operation == "Authenticate"
    assert f"it contains {problem} (the token is not shown)" in str(error)
    assert not leaks(value, shown_anywhere(error))
    assert server.received("GetAvailableBillingTiers") == 0
