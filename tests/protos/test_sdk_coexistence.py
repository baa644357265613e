"""Our messages load and work in one process with the official SDK (viam-sdk 0.85.1), in either import order.

The SDK registers ``viam.app.v1`` in protobuf's default descriptor pool and pins protobuf 6.33.5; ours live in a
private pool and ask nothing newer of the runtime. Each case runs in a fresh interpreter, since import order and
descriptor pools are per process, on both of protobuf's Python backends (upb and pure Python).

These tests need viam-sdk, which is not a dependency: ``nox -s sdk`` installs ``viam-sdk==0.85.1`` and sets
``VIAM_BILLING_REQUIRE_SDK=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

SDK_VERSION = "0.85.1"
REQUIRE_SDK = os.environ.get("VIAM_BILLING_REQUIRE_SDK") == "1"


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


HAVE_SDK = _installed("viam-sdk")

needs_sdk = pytest.mark.skipif(
    not HAVE_SDK and not REQUIRE_SDK,
    reason=f"viam-sdk is not installed; `nox -s sdk` installs viam-sdk=={SDK_VERSION} and runs these tests",
)


def _protobuf_requirement(distribution: str) -> Requirement:
    requirements = [Requirement(text) for text in importlib.metadata.requires(distribution) or []]
    (protobuf,) = [req for req in requirements if req.name == "protobuf" and not req.marker]
    return protobuf


def test_our_protobuf_range_admits_the_sdk_pin_and_protobuf_7() -> None:
    """The range we declare includes 6.33.5 (viam-sdk 0.85.1's pin) and the 7.x series."""
    ours = _protobuf_requirement("viam-billing").specifier
    assert "6.33.5" in ours
    assert "7.0.0" in ours
    assert "7.35.1" in ours
    assert "6.33.4" not in ours  # the oldest runtime the generated code is proven on is the oldest we allow
    assert "8.0.0" not in ours


@needs_sdk
def test_the_sdk_present_is_the_one_we_promise_to_live_with() -> None:
    assert HAVE_SDK, f"VIAM_BILLING_REQUIRE_SDK=1 but viam-sdk is not installed: pip install viam-sdk=={SDK_VERSION}"
    version = importlib.metadata.version("viam-sdk")
    if REQUIRE_SDK:
        assert version == SDK_VERSION
    pin = _protobuf_requirement("viam-sdk")
    installed = importlib.metadata.version("protobuf")
    assert Version(installed) in pin.specifier, f"viam-sdk wants {pin}, protobuf {installed} is installed"
    assert Version(installed) in _protobuf_requirement("viam-billing").specifier
    if version == SDK_VERSION:
        assert str(pin.specifier) == "==6.33.5"


SCRIPT = """
import os
from datetime import datetime, timezone

import attrs
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.internal import api_implementation


def import_sdk():
    import viam.app.billing_client  # the SDK's billing client, which loads its generated module
    from viam.gen.app.v1 import billing_pb2

    assert viam.app.billing_client.BillingClient is not None
    return billing_pb2


def import_ours():
    import viam_billing
    from viam_billing_protos import codec
    from viam_billing_protos._generated import auth_pb, billing_pb

    return viam_billing, codec, billing_pb, auth_pb


if os.environ["ORDER"] == "sdk-first":
    sdk = import_sdk()
    vb, codec, ours, auth = import_ours()
else:
    vb, codec, ours, auth = import_ours()
    sdk = import_sdk()

assert api_implementation.Type() == os.environ["EXPECT_BACKEND"], api_implementation.Type()

# The SDK owns the default pool's viam.app.v1; ours is a separate registration of the same names.
default = descriptor_pool.Default()
assert default.FindMessageTypeByName("viam.app.v1.UsageCost") is sdk.UsageCost.DESCRIPTOR
assert ours.UsageCost.DESCRIPTOR.file.pool is not default
assert ours.UsageCost is not sdk.UsageCost

# Same wire: every message, enum and RPC of ours is the SDK's, field for field.
def fields(message):
    return [(f.number, f.name, f.type, f.type_name, f.label, f.proto3_optional, f.json_name) for f in message.field]

sdk_file = descriptor_pb2.FileDescriptorProto.FromString(sdk.DESCRIPTOR.serialized_pb)
our_file = descriptor_pb2.FileDescriptorProto.FromString(ours.UsageCost.DESCRIPTOR.file.serialized_pb)
assert sdk_file.package == our_file.package == "viam.app.v1"
assert {m.name: fields(m) for m in sdk_file.message_type} == {m.name: fields(m) for m in our_file.message_type}
assert [(e.name, [(v.name, v.number) for v in e.value]) for e in sdk_file.enum_type] == [
    (e.name, [(v.name, v.number) for v in e.value]) for e in our_file.enum_type
]
def rpcs(file):
    return [(m.name, m.input_type, m.output_type, m.server_streaming) for s in file.service for m in s.method]
assert rpcs(sdk_file) == rpcs(our_file)


# An SDK message, as a robot program would build it, read by us and written back.
sdk_usage = sdk.GetCurrentMonthUsageResponse(
    start_date={"seconds": 1_700_000_000, "nanos": 123_456_000},
    resource_usage_costs_by_source=[
        sdk.ResourceUsageCostsBySource(
            source_type=sdk.SOURCE_TYPE_FRAGMENT,
            resource_usage_costs=sdk.ResourceUsageCosts(
                usage_costs=[sdk.UsageCost(resource_type=999, cost=-0.0), sdk.UsageCost(resource_type=3, cost=2.5)]
            ),
            tier_name="\\u00e9t\\u00e9",
        )
    ],
    subtotal=12.5,
)
wire = sdk_usage.SerializeToString(deterministic=True)
model = codec.from_message(vb.GetCurrentMonthUsageResponse, ours.GetCurrentMonthUsageResponse.FromString(wire))
assert model.start_date == datetime(2023, 11, 14, 22, 13, 20, 123_456, tzinfo=timezone.utc)
assert model.resource_usage_costs_by_source[0].resource_usage_costs.usage_costs[0].resource_type.name == "UNKNOWN_999"
assert codec.from_message(vb.GetCurrentMonthUsageResponse, sdk_usage) == model  # the SDK's object, directly
assert codec.to_message(model).SerializeToString(deterministic=True) == wire
assert sdk.GetCurrentMonthUsageResponse.FromString(codec.to_message(model).SerializeToString()) == sdk_usage


# A model of ours for every message, every field set, read by the SDK and written back.
def filled(cls):
    values = {}
    for field in attrs.fields(cls):
        values[field.name] = sample(field.type)
    return cls(**values)

def sample(hint):
    args = [arg for arg in getattr(hint, "__args__", ()) if arg is not type(None) and arg is not Ellipsis]
    if getattr(hint, "__origin__", None) is tuple:
        return (sample(args[0]), sample(args[0]))
    if args:  # X | None
        return sample(args[0])
    if isinstance(hint, type) and issubclass(hint, vb.OpenIntEnum):
        return hint(1234)
    if isinstance(hint, type) and issubclass(hint, vb.Model):
        return filled(hint)
    return {str: "\\u00e9", float: -1.5e-310, int: -(2**62), bool: True, bytes: b"\\x00\\xff",
            datetime: datetime(1, 1, 1, tzinfo=timezone.utc)}[hint]

checked = 0
for name in sorted(m.name for m in our_file.message_type):
    model_cls = getattr(vb, name)
    model = filled(model_cls)
    wire = codec.to_message(model).SerializeToString(deterministic=True)
    sdk_message = getattr(sdk, name).FromString(wire)
    assert sdk_message.SerializeToString(deterministic=True) == wire, name
    assert codec.from_message(model_cls, sdk_message) == model, name
    checked += 1

# Presence of an empty optional string survives the crossing both ways.
charge = vb.ChargeOrganizationRequest(org_id_to_charge="org", description="", subtotal=10.0, tax=0.5)
sdk_charge = sdk.ChargeOrganizationRequest.FromString(codec.to_message(charge).SerializeToString())
assert sdk_charge.HasField("description") and not sdk_charge.HasField("org_id_for_branding")
assert codec.from_message(vb.ChargeOrganizationRequest, sdk_charge) == charge

# Our auth messages build beside the SDK too.
assert auth.AuthenticateRequest(entity="id", credentials={"type": "api-key"}).credentials.type == "api-key"
print(checked)
"""


@needs_sdk
@pytest.mark.parametrize("backend", ["upb", "python"])
@pytest.mark.parametrize("order", ["sdk-first", "ours-first"])
def test_both_load_and_interoperate_in_one_process(run_python: Any, order: str, backend: str) -> None:
    result = run_python(
        SCRIPT, env={"ORDER": order, "EXPECT_BACKEND": backend, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": backend}
    )
    assert result.stdout.strip() == "29"  # every billing message crossed from our pool to the SDK's and back
    assert result.stderr == ""
