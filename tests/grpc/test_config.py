"""Building the transport: addresses, credentials from arguments or the environment, options, registration."""

from __future__ import annotations

import ssl

import pytest
import viam_billing as vb
import viam_billing_grpc
from viam_billing_grpc import Address, GrpcTransport, RetryPolicy, parse_address


@pytest.mark.parametrize(
    ("text", "insecure", "expected"),
    [
        (None, False, Address(host="app.viam.com", port=443, tls=True)),
        ("app.viam.com:443", False, Address(host="app.viam.com", port=443, tls=True)),
        ("127.0.0.1:8080", True, Address(host="127.0.0.1", port=8080, tls=False)),
        ("https://billing.example", False, Address(host="billing.example", port=443, tls=True)),
        ("https://billing.example:8443/", False, Address(host="billing.example", port=8443, tls=True)),
        ("http://localhost:50051", True, Address(host="localhost", port=50051, tls=False)),
        ("[::1]:8080", True, Address(host="::1", port=8080, tls=False)),
        ("https://[2001:db8::1]", False, Address(host="2001:db8::1", port=443, tls=True)),
        ("example.org", False, Address(host="example.org", port=443, tls=True)),
    ],
)
def test_address_forms(text: str | None, insecure: bool, expected: Address) -> None:
    """host:port, https://host[:port], http://host:port, bare hosts and bracketed IPv6 are understood."""
    assert parse_address(text, insecure=insecure) == expected


def test_address_authority_and_str() -> None:
    """An IPv6 host is bracketed in the authority; str() shows the scheme spoken."""
    address = parse_address("[::1]:8080", insecure=True)
    assert address.authority == "[::1]:8080"
    assert str(address) == "http://[::1]:8080"


@pytest.mark.parametrize(
    ("text", "insecure", "match"),
    [
        ("https://x.example", True, "insecure=True"),
        ("http://x.example", True, "needs a port"),
        ("http://x.example:80", False, "insecure=True"),
        ("ftp://x.example:21", False, "scheme 'ftp'"),
        ("x.example:0", False, "1-65535"),
        ("x.example:99999", False, "1-65535"),
        ("x.example:http", False, "1-65535"),
        ("::1:8080", False, "brackets"),
        ("[::1:8080", False, "unclosed"),
        ("https://x.example/path", False, "no path"),
        ("", False, "non-empty"),
        (":443", False, "no host"),
    ],
)
def test_bad_addresses_are_refused_with_the_reason(text: str, insecure: bool, match: str) -> None:
    """Each unusable address is refused with a ConfigurationError saying what is wrong with it."""
    with pytest.raises(vb.ConfigurationError, match=match):
        parse_address(text, insecure=insecure)


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no credential arguments, VIAM_API_KEY and VIAM_API_KEY_ID are used."""
    monkeypatch.setenv("VIAM_API_KEY", "env-key-1234")
    monkeypatch.setenv("VIAM_API_KEY_ID", "env-key-id-5678")
    transport = GrpcTransport()
    assert "auth=api-key" in repr(transport)
    assert "env-key" not in repr(transport)
    assert transport.address == Address(host="app.viam.com", port=443, tls=True)


@pytest.mark.parametrize("present", [{}, {"VIAM_API_KEY": "secret-value-1"}, {"VIAM_API_KEY_ID": "secret-value-2"}])
def test_missing_credentials_name_both_variables_and_print_no_value(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str]
) -> None:
    """The error names both environment variables, says which is missing and never shows a value."""
    monkeypatch.delenv("VIAM_API_KEY", raising=False)
    monkeypatch.delenv("VIAM_API_KEY_ID", raising=False)
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(vb.ConfigurationError) as caught:
        vb.connect()
    message = str(caught.value)
    assert "VIAM_API_KEY " in message
    assert "VIAM_API_KEY_ID" in message
    assert "secret-value" not in message
    missing = {"VIAM_API_KEY", "VIAM_API_KEY_ID"} - set(present)
    assert message.endswith(f"(not set: {' and '.join(sorted(missing))})")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"api_key": "k"}, "api_key was given without api_key_id"),
        ({"api_key_id": "i"}, "api_key_id was given without api_key"),
        ({"api_key": "k", "api_key_id": "i", "access_token": "t"}, "either access_token or api_key"),
        ({"access_token": 12}, "access_token must be a string"),
    ],
)
def test_contradictory_credentials_are_refused(options: dict[str, object], match: str) -> None:
    """Half a key, or a key and a token together, is a ConfigurationError naming the arguments."""
    with pytest.raises(vb.ConfigurationError, match=match):
        GrpcTransport("127.0.0.1:1", insecure=True, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"stream_window": 4 << 20, "connection_window": 4 << 20}, "must be below connection_window"),
        ({"stream_window": 10}, "stream_window must be an int"),
        ({"stream_buffer": 0}, "stream_buffer"),
        ({"auth_timeout": -1}, "auth_timeout"),
        ({"retry": 3}, "retry must be a RetryPolicy"),
        ({"insecure": "yes"}, "insecure must be True or False"),
        ({"ssl_context": ssl.create_default_context()}, "plaintext"),
    ],
)
def test_bad_transport_options_are_refused(options: dict[str, object], match: str) -> None:
    """Options the transport cannot use raise ConfigurationError naming them."""
    options = {"insecure": True, **options}
    with pytest.raises(vb.ConfigurationError, match=match):
        GrpcTransport("127.0.0.1:1", access_token="t", **options)  # type: ignore[arg-type]


def test_unknown_connect_options_are_named() -> None:
    """connect() with an option the grpc transport does not have fails, listing the ones it has."""
    with pytest.raises(vb.ConfigurationError, match=r"no option 'tls_verify'.*stream_window"):
        vb.connect(access_token="t", tls_verify=False)


def test_the_factory_needs_no_option_and_defaults_the_ones_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """connect() hands over only the options the user gave: none at all dials app.viam.com over TLS with the
    environment's key; each option given is used, and the others keep GrpcTransport's defaults."""
    monkeypatch.setenv("VIAM_API_KEY", "env-key-1234")
    monkeypatch.setenv("VIAM_API_KEY_ID", "env-key-id-5678")
    bare = viam_billing_grpc.create_transport()
    assert bare.address == Address(host="app.viam.com", port=443, tls=True)
    assert bare.retry is viam_billing_grpc.DEFAULT_RETRY
    assert "auth=api-key" in repr(bare)
    some = viam_billing_grpc.create_transport(address="127.0.0.1:1", insecure=True, access_token="t", retry=None)
    assert some.address == Address(host="127.0.0.1", port=1, tls=False)
    assert some.retry == RetryPolicy.disabled()
    assert "auth=access-token" in repr(some)


def test_unknown_factory_options_are_named_with_every_valid_one() -> None:
    """An unknown option is named, and the error lists all the options the factory takes, channel's included."""
    with pytest.raises(vb.ConfigurationError) as caught:
        viam_billing_grpc.create_transport(access_token="t", tls_verify=False, colour="red")
    named, _, valid = str(caught.value).partition("it takes")
    assert "'colour', 'tls_verify'" in named
    for option in ("access_token", "address", "api_key", "api_key_id", "auth_timeout", "channel", "connection_window"):
        assert option in valid
    for option in ("insecure", "metadata", "retry", "ssl_context", "stream_buffer", "stream_window"):
        assert option in valid


def test_metadata_without_a_channel_is_refused() -> None:
    """metadata= is what a transport over an existing channel sends; alone, it says what to pass instead."""
    with pytest.raises(vb.ConfigurationError, match=r"metadata= goes with channel=.*api_key="):
        viam_billing_grpc.create_transport(address="127.0.0.1:1", insecure=True, metadata={"authorization": "x"})


def test_grpc_is_the_default_transport_registered_through_the_entry_point() -> None:
    """The plugin registers "grpc" via its entry point, and connect() uses it by default."""
    info = {plugin.name: plugin for plugin in vb.list_plugins()}["grpc"]
    assert info.error is None
    assert info.transports == ("grpc",)
    client = vb.connect(address="127.0.0.1:9", access_token="t", insecure=True)
    assert isinstance(client.transport, GrpcTransport)


def test_retry_policy_full_jitter_backoff() -> None:
    """Backoff grows by the multiplier from the initial value, stops at the cap, scaled by the jitter draw."""
    policy = RetryPolicy(initial_backoff=0.1, multiplier=2, max_backoff=0.5)
    assert [policy.backoff(n, rand=lambda: 1.0) for n in (1, 2, 3, 4, 10**6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert policy.backoff(2, rand=lambda: 0.25) == pytest.approx(0.05)
    assert policy.backoff(3, rand=lambda: 0.0) == 0.0
    assert 0 <= policy.backoff(3) <= 0.4


def test_retry_policy_defaults_and_checks() -> None:
    """Four attempts on UNAVAILABLE by default; disabled() makes one; bad values name the field."""
    assert RetryPolicy().max_attempts == 4
    assert RetryPolicy().retry_on == {vb.StatusCode.UNAVAILABLE}
    assert not RetryPolicy.disabled().enabled
    assert RetryPolicy(retry_on=[14, 8]).retry_on == {vb.StatusCode.UNAVAILABLE, vb.StatusCode.RESOURCE_EXHAUSTED}
    with pytest.raises(vb.ValidationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(vb.ValidationError, match="multiplier"):
        RetryPolicy(multiplier=0.5)
    with pytest.raises(vb.ValidationError, match="initial_backoff"):
        RetryPolicy(initial_backoff=float("nan"))


@pytest.mark.parametrize(
    "options",
    [
        {"initial_backoff": 10**400},
        {"max_backoff": -(10**400)},
        {"multiplier": 10**5000},  # too long even to print: the message gives its size
        {"retry_on": 5},
    ],
    ids=["initial_backoff", "max_backoff", "multiplier", "retry_on"],
)
def test_retry_policy_refuses_huge_numbers_with_validation_error(options: dict[str, object]) -> None:
    """Ints beyond a float's range are refused as ValidationError naming the field, never OverflowError."""
    (name,) = options
    with pytest.raises(vb.ValidationError, match=name) as caught:
        RetryPolicy(**options)  # type: ignore[arg-type]
    assert caught.value.argument == name


@pytest.mark.parametrize(
    ("option", "value"),
    [("auth_timeout", 10**400), ("auth_timeout", float("inf")), ("stream_window", 10**5000)],
    ids=["auth_timeout-huge", "auth_timeout-inf", "stream_window-huge"],
)
def test_transport_options_refuse_huge_numbers(option: str, value: object) -> None:
    """The transport's numeric options refuse out-of-range numbers with ConfigurationError, never OverflowError."""
    with pytest.raises(vb.ConfigurationError, match=option):
        GrpcTransport("127.0.0.1:1", insecure=True, access_token="t", **{option: value})


@pytest.mark.parametrize("module", ["viam_billing_grpc", "viam_billing_grpc.emulator"])
def test_public_names_are_sorted_complete_and_report_their_public_module(module: str) -> None:
    """__all__ is sorted, names only what exists, and classes and functions report the public path."""
    import importlib

    package = importlib.import_module(module)
    assert list(package.__all__) == sorted(package.__all__)
    public = {name for name in vars(package) if not name.startswith("_")}
    submodules = {"emulator"} if module == "viam_billing_grpc" else set()
    assert public - submodules - {"annotations"} == set(package.__all__)
    for name in package.__all__:
        obj = getattr(package, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == module, name


def test_the_grpc_package_imports_no_default_pool_protobuf_code() -> None:
    """Messages come from the private descriptor pool: nothing of ours registers in protobuf's default pool."""
    from google.protobuf import descriptor_pool

    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("viam.app.v1.GetInvoicesSummaryRequest")
    assert viam_billing_grpc.AUTH_PATH == "/proto.rpc.v1.AuthService/Authenticate"


def test_plaintext_by_scheme_alone_is_refused_before_dialling() -> None:
    """http:// without insecure=True would send the key unencrypted: connect() refuses it, saying how to ask for
    plaintext, and nothing is dialled (a listener on the address sees no connection); with insecure=True the
    same address is accepted."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(vb.ConfigurationError, match=r"pass insecure=True \(--insecure on the command line\)"):
            vb.connect(address=address, api_key="a-key-that-must-not-travel", api_key_id="id")
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    transport = GrpcTransport(address, access_token="t", insecure=True)
    assert transport.address == Address(host="127.0.0.1", port=int(address.rsplit(":", 1)[1]), tls=False)
