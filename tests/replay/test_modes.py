"""The contract of each record mode, and how the wrapped transport is built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import viam_billing as vb
import viam_billing_replay as replay

pytestmark = pytest.mark.anyio

ORG = "org-1"


def operations(cassette: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(item["operation"], item["request"]) for item in json.loads(cassette.read_text())["interactions"]]


async def record_usage(open_client: Any, *org_ids: str) -> None:
    async with open_client("once") as billing:
        for org_id in org_ids:
            await billing.get_current_month_usage(org_id)


# -- none ---------------------------------------------------------------------------------------------------------


async def test_none_needs_the_cassette(open_client: Any, cassette: Path) -> None:
    """Without a cassette, mode none refuses at connect and says how to record one."""
    with pytest.raises(replay.CassetteError, match="record_mode='once'") as info:
        open_client("none")
    assert info.value.cassette == str(cassette)
    assert not cassette.exists()


async def test_none_never_calls_through_nor_writes(open_client: Any, service: Any, cassette: Path) -> None:
    """Replay-only: the wrapped transport is never called, unmatched requests fail, the file is untouched."""
    await record_usage(open_client, ORG)
    before = cassette.read_bytes()
    calls = len(service.calls)
    async with open_client("none") as billing:
        await billing.get_current_month_usage(ORG)
        with pytest.raises(replay.UnmatchedRequestError):
            await billing.get_current_month_usage("org-2")
    assert len(service.calls) == calls
    assert cassette.read_bytes() == before


async def test_none_is_the_default(open_client: Any, registry: vb.PluginRegistry, cassette: Path) -> None:
    """connect(transport="replay") without record_mode replays only."""
    await record_usage(open_client, ORG)
    async with vb.connect(transport="replay", cassette=cassette, registry=registry) as billing:
        assert billing.transport.record_mode is replay.RecordMode.NONE  # type: ignore[attr-defined]
        with pytest.raises(replay.UnmatchedRequestError):
            await billing.get_current_month_usage("org-2")


# -- once ---------------------------------------------------------------------------------------------------------


async def test_once_records_a_missing_cassette(open_client: Any, service: Any, cassette: Path) -> None:
    """Every call goes through and the cassette is written on close, in call order."""
    async with open_client("once") as billing:
        await billing.get_current_month_usage(ORG)
        await billing.get_available_billing_tiers()
        assert not cassette.exists()  # written on close, not per call
    assert [name for name, _ in service.calls] == ["GetCurrentMonthUsage", "GetAvailableBillingTiers"]
    assert operations(cassette) == [("GetCurrentMonthUsage", {"org_id": ORG}), ("GetAvailableBillingTiers", {})]


async def test_once_replays_only_when_the_cassette_exists(open_client: Any, service: Any, cassette: Path) -> None:
    """With the cassette there, once behaves like none: no call goes through, nothing is added."""
    await record_usage(open_client, ORG)
    before = cassette.read_bytes()
    calls = len(service.calls)
    async with open_client("once") as billing:
        await billing.get_current_month_usage(ORG)
        with pytest.raises(replay.UnmatchedRequestError, match="record_mode='once'"):
            await billing.get_current_month_usage("org-2")
    assert len(service.calls) == calls
    assert cassette.read_bytes() == before


async def test_once_without_calls_writes_nothing(open_client: Any, cassette: Path) -> None:
    """A session that recorded nothing leaves no cassette behind."""
    async with open_client("once"):
        pass
    assert not cassette.exists()


# -- new_episodes -------------------------------------------------------------------------------------------------


async def test_new_episodes_replays_matches_and_records_the_rest(
    open_client: Any, service: Any, cassette: Path
) -> None:
    """Matching requests are replayed; the others go through and are appended after the old interactions."""
    await record_usage(open_client, ORG)
    service.calls.clear()
    async with open_client("new_episodes") as billing:
        await billing.get_current_month_usage(ORG)
        other = await billing.get_current_month_usage("org-2")
        await billing.get_available_billing_tiers()
    assert [(name, getattr(request, "org_id", None)) for name, request in service.calls] == [
        ("GetCurrentMonthUsage", "org-2"),
        ("GetAvailableBillingTiers", None),
    ]
    assert other.subtotal == 3.0
    assert operations(cassette) == [
        ("GetCurrentMonthUsage", {"org_id": ORG}),
        ("GetCurrentMonthUsage", {"org_id": "org-2"}),
        ("GetAvailableBillingTiers", {}),
    ]
    async with open_client("none", on_unplayed="error") as billing:
        assert (await billing.get_current_month_usage("org-2")).subtotal == 3.0
        await billing.get_current_month_usage(ORG)
        await billing.get_available_billing_tiers()


async def test_new_episodes_creates_a_missing_cassette(open_client: Any, cassette: Path) -> None:
    """Without a cassette, new_episodes records everything."""
    async with open_client("new_episodes") as billing:
        await billing.get_available_billing_tiers()
    assert operations(cassette) == [("GetAvailableBillingTiers", {})]


async def test_new_episodes_records_a_repeat_beyond_the_recorded_ones(
    open_client: Any, service: Any, cassette: Path
) -> None:
    """A request made more often than recorded goes through for the extra time."""
    async with open_client("once") as billing:
        first = await billing.charge_organization("org-2", 10.0, 1.0)
    async with open_client("new_episodes") as billing:
        again = await billing.charge_organization("org-2", 10.0, 1.0)
        extra = await billing.charge_organization("org-2", 10.0, 1.0)
    assert again == first
    assert extra.invoice_id == "inv-new-2"
    assert len(operations(cassette)) == 2


# -- all ----------------------------------------------------------------------------------------------------------


async def test_all_calls_through_and_rewrites(open_client: Any, service: Any, cassette: Path) -> None:
    """Every call goes through even when recorded, and the cassette then holds exactly this session."""
    await record_usage(open_client, ORG, "org-2")
    service.calls.clear()
    async with open_client("all") as billing:
        await billing.get_current_month_usage(ORG)
        await billing.get_available_billing_tiers()
    assert [name for name, _ in service.calls] == ["GetCurrentMonthUsage", "GetAvailableBillingTiers"]
    assert operations(cassette) == [("GetCurrentMonthUsage", {"org_id": ORG}), ("GetAvailableBillingTiers", {})]


async def test_all_overwrites_a_malformed_cassette(open_client: Any, cassette: Path) -> None:
    """A broken cassette does not stand in the way of re-recording it."""
    cassette.parent.mkdir(parents=True)
    cassette.write_text("{ not json")
    async with open_client("all") as billing:
        await billing.get_available_billing_tiers()
    assert operations(cassette) == [("GetAvailableBillingTiers", {})]


async def test_the_other_modes_refuse_a_malformed_cassette(open_client: Any, cassette: Path) -> None:
    """none, once and new_episodes never overwrite a cassette they cannot read."""
    cassette.parent.mkdir(parents=True)
    cassette.write_text("{ not json")
    for mode in ("none", "once", "new_episodes"):
        with pytest.raises(replay.CassetteFormatError):
            open_client(mode)
    assert cassette.read_text() == "{ not json"


async def test_an_unknown_record_mode_is_a_configuration_error(open_client: Any) -> None:
    """The error lists the modes."""
    with pytest.raises(vb.ConfigurationError, match="'none', 'once', 'new_episodes', 'all'"):
        open_client("sometimes")


# -- the wrapped transport ----------------------------------------------------------------------------------------


class FakeTransport(vb.AsyncTransport):
    """A transport registered by name, which notes its options and whether it was closed."""

    built: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.closed = False
        FakeTransport.built.append(options)

    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        return operation.response_type()

    async def aclose(self) -> None:
        self.closed = True


class FakePlugin:
    @vb.plugin.hookimpl
    def register_transports(self, register: Any) -> None:
        register("fake", FakeTransport)


@pytest.fixture
def fake_registry(registry: vb.PluginRegistry) -> vb.PluginRegistry:
    FakeTransport.built = []
    registry.register(FakePlugin(), name="fake")
    return registry


async def test_the_inner_transport_is_built_by_name_with_the_remaining_options(
    fake_registry: vb.PluginRegistry, cassette: Path
) -> None:
    """Replay options are consumed; every other keyword, whatever it is, goes to the wrapped transport."""
    transport = replay.ReplayTransport(
        cassette=cassette,
        record_mode="once",
        inner="fake",
        registry=fake_registry,
        redact=(),
        endpoint="pigeon://loft-3",
        token=None,
        flavour="plain",
    )
    assert FakeTransport.built == []  # nothing is built before a call needs it
    async with vb.BillingClient(transport, registry=fake_registry) as billing:
        await billing.get_available_billing_tiers()
    assert FakeTransport.built == [{"endpoint": "pigeon://loft-3", "token": None, "flavour": "plain"}]


async def test_the_default_inner_transport_is_the_default_transport(
    registry: vb.PluginRegistry, cassette: Path
) -> None:
    """Without inner=, recording goes through the transport named viam_billing.DEFAULT_TRANSPORT, with the options."""

    class DefaultPlugin:
        @vb.plugin.hookimpl
        def register_transports(self, register: Any) -> None:
            register(vb.DEFAULT_TRANSPORT, FakeTransport)

    FakeTransport.built = []
    registry.register(DefaultPlugin(), name="default")
    transport = replay.ReplayTransport(cassette=cassette, record_mode="once", registry=registry, flavour="plain")
    async with vb.BillingClient(transport, registry=registry) as billing:
        await billing.get_available_billing_tiers()
    assert FakeTransport.built == [{"flavour": "plain"}]
    assert operations(cassette) == [("GetAvailableBillingTiers", {})]


async def test_a_mock_transport_records_and_replays_through_the_process_wide_registry(cassette: Path) -> None:
    """connect(transport="replay", inner=MockTransport(...)) records through the mock, then replays without it."""
    answers = iter(("free", "pro"))
    inner = vb.MockTransport(lambda operation, request: vb.GetAvailableBillingTiersResponse(tiers=(next(answers),)))
    async with vb.connect(transport="replay", cassette=cassette, record_mode="once", inner=inner) as billing:
        live = await billing.get_available_billing_tiers()
    assert live.tiers == ("free",)
    assert [name for name, _ in inner.calls] == ["GetAvailableBillingTiers"]
    async with vb.connect(transport="replay", cassette=cassette, on_unplayed="error") as billing:
        assert await billing.get_available_billing_tiers() == live
    assert len(inner.calls) == 1  # replaying never called the mock


async def test_a_private_registry_gives_its_inner_transport_ready_built(
    fake_registry: vb.PluginRegistry, cassette: Path
) -> None:
    """connect(registry=...) does not tell the replay factory its registry: pass the inner transport built from it."""
    inner = fake_registry.create_transport("fake", flavour="private")
    async with vb.connect(
        transport="replay", cassette=cassette, record_mode="once", inner=inner, registry=fake_registry
    ) as billing:
        await billing.get_available_billing_tiers()
    assert FakeTransport.built == [{"flavour": "private"}]
    assert isinstance(inner, FakeTransport)
    assert inner.closed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"record_mod": "once"}, "no option 'record_mod'; did you mean 'record_mode'"),
        ({"cassete": "c.json"}, "did you mean 'cassette'"),
        ({"match_ingore": ["description"]}, "did you mean 'match_ignore'"),
        ({"allow_playback_repeat": True}, "did you mean 'allow_playback_repeats'"),
        ({"secret": ["x"]}, "did you mean 'secrets'"),
        ({"inner": ""}, "inner must name a registered transport"),
        ({"inner": vb.MockTransport(lambda operation, request: request), "flavour": "x"}, "option\\(s\\) flavour"),
    ],
)
async def test_replay_options_are_checked_even_when_nothing_records(
    registry: vb.PluginRegistry, cassette: Path, options: dict[str, Any], message: str
) -> None:
    """A misspelt replay option would otherwise reach the inner transport, which replay-only never builds."""
    with pytest.raises(vb.ConfigurationError, match=message):
        vb.connect(transport="replay", cassette=cassette, record_mode="all", registry=registry, **options)


async def test_options_unlike_replay_ones_go_to_the_inner_transport(
    fake_registry: vb.PluginRegistry, cassette: Path
) -> None:
    """Only near-misses of replay option names are refused; others, even similar words, reach the inner one."""
    transport = replay.ReplayTransport(
        cassette=cassette, record_mode="once", inner="fake", registry=fake_registry, registry_url="x", redaction="y"
    )
    async with vb.BillingClient(transport, registry=fake_registry) as billing:
        await billing.get_available_billing_tiers()
    assert FakeTransport.built == [{"registry_url": "x", "redaction": "y"}]


async def test_replay_only_never_builds_the_inner_transport(open_client: Any, cassette: Path) -> None:
    """A replaying session needs neither the wrapped transport's plugin nor credentials."""
    await record_usage(open_client, ORG)
    async with open_client("none", inner="not-installed") as billing:
        await billing.get_current_month_usage(ORG)


async def test_a_missing_inner_transport_is_named_when_a_call_needs_it(
    fake_registry: vb.PluginRegistry, cassette: Path
) -> None:
    """new_episodes with an unknown inner transport fails on the first call that must go through."""
    transport = replay.ReplayTransport(
        cassette=cassette, record_mode="new_episodes", inner="carrier-pigeon", registry=fake_registry
    )
    async with vb.BillingClient(transport, registry=fake_registry) as billing:
        with pytest.raises(vb.UnknownTransportError, match="carrier-pigeon"):
            await billing.get_available_billing_tiers()
    assert not cassette.exists()


async def test_closing_closes_the_inner_transport(fake_registry: vb.PluginRegistry, cassette: Path) -> None:
    """The wrapped transport is closed with the replay transport, and the recording saved."""
    inner = FakeTransport()
    async with vb.BillingClient(
        replay.ReplayTransport(cassette=cassette, record_mode="once", inner=inner), registry=fake_registry
    ) as billing:
        await billing.get_available_billing_tiers()
    assert inner.closed
    assert cassette.exists()


async def test_the_replay_transport_is_registered_through_the_entry_point(cassette: Path, open_client: Any) -> None:
    """The process-wide registry knows "replay" from the viam_billing entry-point group."""
    await record_usage(open_client, ORG)
    assert "replay" in vb.get_registry().transports
    async with vb.connect(transport="replay", cassette=cassette) as billing:
        assert isinstance(billing.transport, replay.ReplayTransport)
        assert (await billing.get_current_month_usage(ORG)).subtotal == 12.5


async def test_a_cassette_is_required(registry: vb.PluginRegistry) -> None:
    """connect(transport="replay") without a cassette says what to pass."""
    with pytest.raises(vb.ConfigurationError, match="cassette="):
        vb.connect(transport="replay", registry=registry)


async def test_the_repr_shows_no_options(fake_registry: vb.PluginRegistry, cassette: Path) -> None:
    """Options given for the inner transport (credentials, say) do not appear in the transport's repr."""
    transport = replay.ReplayTransport(
        cassette=cassette, record_mode="once", inner="fake", registry=fake_registry, token="key-very-secret"
    )
    assert "key-very-secret" not in repr(transport)
    assert str(cassette) in repr(transport)
    await transport.aclose()


# -- interactions never played ------------------------------------------------------------------------------------


async def test_unplayed_interactions_can_warn_or_fail_on_close(open_client: Any) -> None:
    """on_unplayed="warn" warns and "error" raises StaleCassetteError, both listing what was never played."""
    await record_usage(open_client, ORG, "org-2")
    with pytest.warns(
        replay.UnplayedInteractionsWarning, match=r"1 of 2 recorded interaction\(s\).*1 \(GetCurrentMonthUsage\)"
    ):
        async with open_client("none", on_unplayed="warn") as billing:
            await billing.get_current_month_usage(ORG)
    with pytest.raises(replay.StaleCassetteError) as info:
        async with open_client("none", on_unplayed="error") as billing:
            await billing.get_current_month_usage("org-2")
    assert info.value.unplayed == [(0, "GetCurrentMonthUsage")]
    async with open_client("none") as billing:  # "ignore", the default
        transport = billing.transport
    assert [index for index, _ in transport.unplayed()] == [0, 1]  # type: ignore[attr-defined]


async def test_what_a_session_recorded_is_listed(open_client: Any) -> None:
    """recorded lists this session's new interactions; interactions lists the old ones first."""
    await record_usage(open_client, ORG)
    async with open_client("new_episodes") as billing:
        await billing.get_current_month_usage(ORG)
        await billing.get_current_month_usage("org-2")
        transport = billing.transport
        assert [i.request.org_id for i in transport.recorded] == ["org-2"]  # type: ignore[attr-defined]
        assert [i.request.org_id for i in transport.interactions] == [ORG, "org-2"]  # type: ignore[attr-defined]
