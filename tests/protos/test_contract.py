"""Our descriptors, models and operation table reproduce the wire contract, checked against the contract itself.

The tables below are transcribed by hand from ``shared/wire/billing-contract.md``, not derived from our .proto
files: they are the independent check that every field number, type, name and label is the service's.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import subprocess
import sys
from datetime import datetime
from typing import Any

import attrs
import pytest
import viam_billing as vb
from google.protobuf import descriptor_pb2
from viam_billing_protos import codec
from viam_billing_protos._generated import auth_pb, billing_pb

ROOT = pathlib.Path(__file__).resolve().parents[2]

# --- the contract, transcribed --------------------------------------------------------------------------------
# message -> [(number, name, type, label)]; label is "", "repeated", "optional" (proto3 explicit presence) or
# "deprecated". Types are protobuf scalar names or fully qualified message and enum names.

TS = "google.protobuf.Timestamp"
BILLING_MESSAGES: dict[str, list[tuple[int, str, str, str]]] = {
    "InvoiceSummary": [
        (1, "id", "string", ""),
        (2, "invoice_date", TS, ""),
        (3, "invoice_amount", "double", ""),
        (4, "status", "string", ""),
        (5, "due_date", TS, ""),
        (6, "paid_date", TS, ""),
        (7, "last_payment_failure_reason", "string", ""),
        (8, "last_payment_failure_at", TS, ""),
    ],
    "PaymentMethodCard": [
        (1, "brand", "string", ""),
        (2, "last_four_digits", "string", ""),
    ],
    "VerificationInfo": [
        (1, "arrival_date", "int64", ""),
        (2, "hosted_verification_page_url", "string", ""),
    ],
    "PaymentMethodUSBankAccount": [
        (1, "bank_name", "string", ""),
        (2, "last_four_digits_account_number", "string", ""),
        (3, "routing_number", "string", ""),
        (4, "account_type", "string", ""),
        (5, "verification_info", "viam.app.v1.VerificationInfo", "optional"),
    ],
    "GetCurrentMonthUsageRequest": [
        (1, "org_id", "string", ""),
    ],
    "UsageCost": [
        (1, "resource_type", "viam.app.v1.UsageCostType", ""),
        (2, "cost", "double", ""),
    ],
    "ResourceUsageCostsBySource": [
        (1, "source_type", "viam.app.v1.SourceType", ""),
        (2, "resource_usage_costs", "viam.app.v1.ResourceUsageCosts", ""),
        (3, "tier_name", "string", ""),
    ],
    "ResourceUsageCosts": [
        (1, "usage_costs", "viam.app.v1.UsageCost", "repeated"),
        (2, "discount", "double", ""),
        (3, "total_with_discount", "double", ""),
        (4, "total_without_discount", "double", ""),
    ],
    "GetCurrentMonthUsageResponse": [
        (1, "start_date", TS, ""),
        (2, "end_date", TS, ""),
        (14, "resource_usage_costs_by_source", "viam.app.v1.ResourceUsageCostsBySource", "repeated"),
        (15, "subtotal", "double", ""),
        (3, "cloud_storage_usage_cost", "double", "deprecated"),
        (4, "data_upload_usage_cost", "double", "deprecated"),
        (5, "data_egres_usage_cost", "double", "deprecated"),
        (6, "remote_control_usage_cost", "double", "deprecated"),
        (7, "standard_compute_usage_cost", "double", "deprecated"),
        (8, "discount_amount", "double", "deprecated"),
        (9, "total_usage_with_discount", "double", "deprecated"),
        (10, "total_usage_without_discount", "double", "deprecated"),
        (11, "per_machine_usage_cost", "double", "deprecated"),
        (12, "binary_data_cloud_storage_usage_cost", "double", "deprecated"),
        (13, "other_cloud_storage_usage_cost", "double", "deprecated"),
    ],
    "GetOrgBillingInformationRequest": [
        (1, "org_id", "string", ""),
    ],
    "GetOrgBillingInformationResponse": [
        (1, "type", "viam.app.v1.PaymentMethodType", ""),
        (2, "billing_email", "string", ""),
        (3, "method", "viam.app.v1.PaymentMethodCard", "optional"),
        (4, "billing_tier", "string", "optional"),
        (5, "method_us_bank_account", "viam.app.v1.PaymentMethodUSBankAccount", "optional"),
    ],
    "GetInvoicesSummaryRequest": [
        (1, "org_id", "string", ""),
    ],
    "GetInvoicesSummaryResponse": [
        (1, "outstanding_balance", "double", ""),
        (2, "invoices", "viam.app.v1.InvoiceSummary", "repeated"),
    ],
    "GetInvoicePdfRequest": [
        (1, "id", "string", ""),
        (2, "org_id", "string", ""),
    ],
    "GetInvoicePdfResponse": [
        (1, "chunk", "bytes", ""),
    ],
    "SendPaymentRequiredEmailRequest": [
        (1, "customer_org_id", "string", ""),
        (2, "billing_owner_org_id", "string", ""),
    ],
    "SendPaymentRequiredEmailResponse": [],
    "GetAvailableBillingTiersRequest": [],
    "GetAvailableBillingTiersResponse": [
        (1, "tiers", "string", "repeated"),
    ],
    "UpdateOrganizationBillingTierRequest": [
        (1, "organization_id", "string", ""),
        (2, "billing_tier", "string", ""),
    ],
    "UpdateOrganizationBillingTierResponse": [],
    "GetLocationBillingOrganizationRequest": [
        (1, "location_id", "string", ""),
    ],
    "GetLocationBillingOrganizationResponse": [
        (1, "billing_organization_id", "string", ""),
    ],
    "UpdateLocationBillingOrganizationRequest": [
        (1, "location_id", "string", ""),
        (2, "billing_organization_id", "string", ""),
    ],
    "UpdateLocationBillingOrganizationResponse": [],
    "ChargeOrganizationRequest": [
        (1, "org_id_to_charge", "string", ""),
        (2, "description", "string", "optional"),
        (3, "subtotal", "double", ""),
        (4, "tax", "double", ""),
        (5, "org_id_for_branding", "string", "optional"),
        (6, "disable_confirmation_email", "bool", ""),
    ],
    "ChargeOrganizationResponse": [
        (1, "invoice_id", "string", ""),
    ],
    "CreateInvoiceAndChargeImmediatelyRequest": [
        (1, "org_id_to_charge", "string", ""),
        (2, "amount", "double", ""),
        (3, "description", "string", "optional"),
        (4, "org_id_for_branding", "string", "optional"),
        (5, "disable_email", "bool", ""),
    ],
    "CreateInvoiceAndChargeImmediatelyResponse": [
        (1, "invoice_id", "string", ""),
    ],
}

# enum -> [(name, number, deprecated)]
BILLING_ENUMS: dict[str, list[tuple[str, int, bool]]] = {
    "PaymentMethodType": [
        ("PAYMENT_METHOD_TYPE_UNSPECIFIED", 0, False),
        ("PAYMENT_METHOD_TYPE_CARD", 1, False),
        ("PAYMENT_METHOD_TYPE_USBANKACCOUNT", 2, False),
    ],
    "UsageCostType": [
        ("USAGE_COST_TYPE_UNSPECIFIED", 0, False),
        ("USAGE_COST_TYPE_DATA_UPLOAD", 1, True),
        ("USAGE_COST_TYPE_DATA_EGRESS", 2, True),
        ("USAGE_COST_TYPE_REMOTE_CONTROL", 3, False),
        ("USAGE_COST_TYPE_STANDARD_COMPUTE", 4, False),
        ("USAGE_COST_TYPE_CLOUD_STORAGE", 5, True),
        ("USAGE_COST_TYPE_BINARY_DATA_CLOUD_STORAGE", 6, False),
        ("USAGE_COST_TYPE_OTHER_CLOUD_STORAGE", 7, True),
        ("USAGE_COST_TYPE_PER_MACHINE", 8, False),
        ("USAGE_COST_TYPE_TRIGGER_NOTIFICATION", 9, False),
        ("USAGE_COST_TYPE_TABULAR_DATA_CLOUD_STORAGE", 10, False),
        ("USAGE_COST_TYPE_CONFIG_HISTORY_CLOUD_STORAGE", 11, False),
        ("USAGE_COST_TYPE_LOGS_CLOUD_STORAGE", 12, False),
        ("USAGE_COST_TYPE_TRAINING_LOGS_CLOUD_STORAGE", 13, False),
        ("USAGE_COST_TYPE_PACKAGES_CLOUD_STORAGE", 14, False),
        ("USAGE_COST_TYPE_BINARY_DATA_UPLOAD", 15, False),
        ("USAGE_COST_TYPE_TABULAR_DATA_UPLOAD", 16, False),
        ("USAGE_COST_TYPE_LOGS_UPLOAD", 17, False),
        ("USAGE_COST_TYPE_BINARY_DATA_EGRESS", 18, False),
        ("USAGE_COST_TYPE_TABULAR_DATA_EGRESS", 19, False),
        ("USAGE_COST_TYPE_LOGS_EGRESS", 20, False),
        ("USAGE_COST_TYPE_TRAINING_LOGS_EGRESS", 21, False),
        ("USAGE_COST_TYPE_TABULAR_DATA_DATABASE_CLOUD_STORAGE", 22, False),
        ("USAGE_COST_TYPE_TABULAR_DATA_DATABASE_COMPUTE", 23, False),
        ("USAGE_COST_TYPE_BINARY_DATA_CROSS_REGION_EGRESS", 24, False),
        ("USAGE_COST_TYPE_PIPELINE_SINK_CLOUD_STORAGE", 25, False),
        ("USAGE_COST_TYPE_PIPELINE_SINK_COMPUTE", 26, False),
        ("USAGE_COST_TYPE_PREMIUM_MODULE", 27, False),
        ("USAGE_COST_TYPE_SIMULATION_COMPUTE", 28, False),
    ],
    "SourceType": [
        ("SOURCE_TYPE_UNSPECIFIED", 0, False),
        ("SOURCE_TYPE_ORG", 1, False),
        ("SOURCE_TYPE_FRAGMENT", 2, False),
    ],
}

# The contract's order: (RPC, request, response, server-streaming)
BILLING_RPCS: list[tuple[str, str, str, bool]] = [
    ("GetCurrentMonthUsage", "GetCurrentMonthUsageRequest", "GetCurrentMonthUsageResponse", False),
    ("GetOrgBillingInformation", "GetOrgBillingInformationRequest", "GetOrgBillingInformationResponse", False),
    ("GetInvoicesSummary", "GetInvoicesSummaryRequest", "GetInvoicesSummaryResponse", False),
    ("GetInvoicePdf", "GetInvoicePdfRequest", "GetInvoicePdfResponse", True),
    ("SendPaymentRequiredEmail", "SendPaymentRequiredEmailRequest", "SendPaymentRequiredEmailResponse", False),
    ("GetAvailableBillingTiers", "GetAvailableBillingTiersRequest", "GetAvailableBillingTiersResponse", False),
    (
        "UpdateOrganizationBillingTier",
        "UpdateOrganizationBillingTierRequest",
        "UpdateOrganizationBillingTierResponse",
        False,
    ),
    (
        "GetLocationBillingOrganization",
        "GetLocationBillingOrganizationRequest",
        "GetLocationBillingOrganizationResponse",
        False,
    ),
    (
        "UpdateLocationBillingOrganization",
        "UpdateLocationBillingOrganizationRequest",
        "UpdateLocationBillingOrganizationResponse",
        False,
    ),
    ("ChargeOrganization", "ChargeOrganizationRequest", "ChargeOrganizationResponse", False),
    (
        "CreateInvoiceAndChargeImmediately",
        "CreateInvoiceAndChargeImmediatelyRequest",
        "CreateInvoiceAndChargeImmediatelyResponse",
        False,
    ),
]

AUTH_MESSAGES: dict[str, list[tuple[int, str, str, str]]] = {
    "Credentials": [(1, "type", "string", ""), (2, "payload", "string", "")],
    "AuthenticateRequest": [(1, "entity", "string", ""), (2, "credentials", "proto.rpc.v1.Credentials", "")],
    "AuthenticateResponse": [(1, "access_token", "string", "")],
    "AuthenticateToRequest": [(1, "entity", "string", "")],
    "AuthenticateToResponse": [(1, "access_token", "string", "")],
}
# service -> [(RPC, request, response)], all unary
AUTH_SERVICES: dict[str, list[tuple[str, str, str]]] = {
    "AuthService": [("Authenticate", "AuthenticateRequest", "AuthenticateResponse")],
    "ExternalAuthService": [("AuthenticateTo", "AuthenticateToRequest", "AuthenticateToResponse")],
}

# --- reading our descriptors ----------------------------------------------------------------------------------

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    FDP.TYPE_STRING: "string",
    FDP.TYPE_DOUBLE: "double",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_BOOL: "bool",
    FDP.TYPE_BYTES: "bytes",
}


def _file_proto(file: Any) -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto of a file as our private pool holds it."""
    return descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb)


def _fields(message: descriptor_pb2.DescriptorProto) -> list[tuple[int, str, str, str]]:
    result = []
    for field in message.field:
        kind = SCALARS.get(field.type) or field.type_name.lstrip(".")
        if field.label == FDP.LABEL_REPEATED:
            label = "repeated"
        elif field.proto3_optional:
            label = "optional"
        elif field.options.deprecated:
            label = "deprecated"
        else:
            label = ""
        result.append((field.number, field.name, kind, label))
    return result


BILLING = _file_proto(billing_pb.InvoiceSummary.DESCRIPTOR.file)
AUTH = _file_proto(auth_pb.Credentials.DESCRIPTOR.file)


# --- the checks -----------------------------------------------------------------------------------------------


def test_billing_file_identity() -> None:
    assert BILLING.package == "viam.app.v1"
    assert BILLING.syntax == "proto3"
    assert list(BILLING.dependency) == ["google/protobuf/timestamp.proto"]


def test_billing_messages_match_the_contract() -> None:
    ours = {message.name: _fields(message) for message in BILLING.message_type}
    assert sorted(ours) == sorted(BILLING_MESSAGES)
    for name, expected in BILLING_MESSAGES.items():
        assert ours[name] == expected, name
    assert not any(message.nested_type or message.enum_type for message in BILLING.message_type)


def test_only_the_contract_fields_are_optional_or_deprecated() -> None:
    """No field of ours is both optional and deprecated, or deprecated where the contract does not say so."""
    for message in BILLING.message_type:
        for field in message.field:
            expected = {f[1]: f[3] for f in BILLING_MESSAGES[message.name]}[field.name]
            assert bool(field.options.deprecated) == (expected == "deprecated"), f"{message.name}.{field.name}"
            assert bool(field.proto3_optional) == (expected == "optional"), f"{message.name}.{field.name}"


def test_runtime_descriptors_agree_on_presence_and_repetition() -> None:
    """What protobuf loaded behaves as the contract says: optional and message fields track presence."""
    for name, expected in BILLING_MESSAGES.items():
        descriptor = getattr(billing_pb, name).DESCRIPTOR
        for number, field_name, kind, label in expected:
            field = descriptor.fields_by_number[number]
            assert field.name == field_name
            assert field.is_repeated == (label == "repeated")
            is_message = "." in kind and kind.rpartition(".")[2] not in BILLING_ENUMS
            has_presence = label == "optional" or (is_message and label != "repeated")
            assert field.has_presence == has_presence, f"{name}.{field_name}"


def test_billing_enums_match_the_contract() -> None:
    ours = {
        enum.name: [(value.name, value.number, bool(value.options.deprecated)) for value in enum.value]
        for enum in BILLING.enum_type
    }
    assert ours == BILLING_ENUMS


def test_model_enums_match_the_contract() -> None:
    for name, values in BILLING_ENUMS.items():
        enum_cls = getattr(vb, name)
        assert [(member.name, int(member)) for member in enum_cls] == [(n, v) for n, v, _ in values]


def test_billing_rpcs_match_the_contract() -> None:
    (service,) = BILLING.service
    assert service.name == "BillingService"
    ours = [
        (method.name, method.input_type, method.output_type, method.server_streaming, method.client_streaming)
        for method in service.method
    ]
    assert ours == [
        (rpc, f".viam.app.v1.{request}", f".viam.app.v1.{response}", streaming, False)
        for rpc, request, response, streaming in BILLING_RPCS
    ]
    assert [method.name for method in service.method if method.server_streaming] == ["GetInvoicePdf"]


def test_operation_table_agrees_with_the_contract_and_the_descriptors() -> None:
    service = billing_pb.InvoiceSummary.DESCRIPTOR.file.services_by_name["BillingService"]
    assert vb.SERVICE == service.full_name == "viam.app.v1.BillingService"
    assert list(vb.OPERATIONS) == [rpc for rpc, *_ in BILLING_RPCS]
    for rpc, request, response, streaming in BILLING_RPCS:
        op = vb.OPERATIONS[rpc]
        method = service.methods_by_name[rpc]
        assert op.name == rpc
        assert op.path == f"/viam.app.v1.BillingService/{rpc}"
        assert op.path == f"/{method.containing_service.full_name}/{method.name}"
        assert op.request_type is getattr(vb, request)
        assert op.response_type is getattr(vb, response)
        assert codec.message_type(op.request_type).DESCRIPTOR is method.input_type
        assert codec.message_type(op.response_type).DESCRIPTOR is method.output_type
        assert op.streaming is streaming is method.server_streaming


def _model_type(kind: str, label: str) -> Any:
    scalars = {"string": str, "double": float, "int64": int, "bool": bool, "bytes": bytes}
    if kind in scalars:
        inner: Any = scalars[kind]
    elif kind == TS:
        inner = datetime
    else:
        inner = getattr(vb, kind.rpartition(".")[2])
    if label == "repeated":
        return tuple[inner, ...]
    is_enum = isinstance(inner, type) and issubclass(inner, vb.OpenIntEnum)
    if label == "optional" or inner is datetime or (isinstance(inner, type) and issubclass(inner, vb.Model)):
        assert not is_enum
        return inner | None
    return inner


@pytest.mark.parametrize("name", sorted(BILLING_MESSAGES))
def test_each_model_has_exactly_the_message_fields_with_matching_types(name: str) -> None:
    model_cls = getattr(vb, name)
    fields = {field.name: field.type for field in attrs.fields(model_cls)}
    expected = {field_name: _model_type(kind, label) for _, field_name, kind, label in BILLING_MESSAGES[name]}
    assert set(fields) == set(expected)
    for field_name, hint in expected.items():
        assert fields[field_name] == hint, f"{name}.{field_name}: {fields[field_name]!r} != {hint!r}"


def test_auth_messages_and_services_match_the_contract() -> None:
    assert AUTH.package == "proto.rpc.v1"
    assert AUTH.name == "proto/rpc/v1/auth.proto"
    assert {message.name: _fields(message) for message in AUTH.message_type} == AUTH_MESSAGES
    ours = {
        service.name: [
            (m.name, m.input_type, m.output_type, m.server_streaming, m.client_streaming) for m in service.method
        ]
        for service in AUTH.service
    }
    assert ours == {
        service: [(rpc, f".proto.rpc.v1.{req}", f".proto.rpc.v1.{res}", False, False) for rpc, req, res in rpcs]
        for service, rpcs in AUTH_SERVICES.items()
    }


# --- generated code -------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("grpc_tools") is None,
    reason="grpcio-tools is not installed here; `nox -s protos` runs the drift check",
)
def test_generated_modules_match_the_proto_files() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_modules_ask_nothing_of_the_protobuf_runtime() -> None:
    """protoc's own output pins the runtime (``runtime_version``) and uses the default pool; ours imports only
    the private pool, whose API protobuf 6 and 7 share."""
    modules = sorted((ROOT / "protos" / "viam_billing_protos" / "_generated").glob("*_pb.py"))
    assert [path.name for path in modules] == ["auth_pb.py", "billing_pb.py"]
    for path in modules:
        imports: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imports.add("." * node.level + (node.module or ""))
        assert imports == {"__future__", "typing", ".._pool"}, path.name


def test_importing_the_core_loads_no_grpc_or_protobuf(run_python: Any) -> None:
    result = run_python(
        """
        import sys
        import viam_billing
        loaded = sorted(
            name for name in sys.modules
            if name.split(".")[0] in ("grpclib", "h2", "grpc") or name.startswith("google.protobuf")
        )
        print(",".join(loaded) or "none")
        """
    )
    assert result.stdout.strip() == "none"


def test_our_messages_stay_out_of_the_default_descriptor_pool(run_python: Any) -> None:
    result = run_python(
        """
        from google.protobuf import descriptor_pool, symbol_database
        from viam_billing_protos import codec
        from viam_billing_protos._generated import auth_pb, billing_pb

        assert billing_pb.GetCurrentMonthUsageRequest(org_id="o").SerializeToString() == b"\\n\\x01o"
        assert billing_pb.InvoiceSummary.DESCRIPTOR.file.pool is not descriptor_pool.Default()
        found = []
        for pool in (descriptor_pool.Default(), symbol_database.Default().pool):
            lookups = [
                (pool.FindMessageTypeByName, "viam.app.v1.GetCurrentMonthUsageRequest"),
                (pool.FindEnumTypeByName, "viam.app.v1.UsageCostType"),
                (pool.FindServiceByName, "viam.app.v1.BillingService"),
                (pool.FindMessageTypeByName, "proto.rpc.v1.AuthenticateRequest"),
                (pool.FindServiceByName, "proto.rpc.v1.AuthService"),
            ]
            for find, name in lookups:
                try:
                    find(name)
                except KeyError:
                    continue
                found.append(name)
            for file_name in ("viam/app/v1/billing.proto", "proto/rpc/v1/auth.proto"):
                try:
                    pool.FindFileByName(file_name)
                except KeyError:
                    continue
                found.append(file_name)
        print(",".join(found) or "none")
        """
    )
    assert result.stdout.strip() == "none"
