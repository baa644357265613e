"""The two messages of the API-key handshake, ``AuthService/Authenticate``.

viam_billing's codec covers the billing messages only, so these are declared here, from the wire contract:
``AuthenticateRequest{entity = 1: the API key id, credentials = 2: Credentials{type = 1: "api-key",
payload = 2: the API key}}`` and ``AuthenticateResponse{access_token = 1}``. They live in a descriptor pool of
their own: the official Viam SDK registers ``proto.rpc.v1`` in protobuf's default pool, and two definitions of
one name there refuse to load in one process.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["access_token", "authenticate_request"]


def _message_classes() -> tuple[Any, Any]:
    string = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
    file = descriptor_pb2.FileDescriptorProto(
        name="viam_billing_grpcio/auth.proto", package="proto.rpc.v1", syntax="proto3"
    )
    credentials = file.message_type.add(name="Credentials")
    credentials.field.add(name="type", number=1, type=string)
    credentials.field.add(name="payload", number=2, type=string)
    request = file.message_type.add(name="AuthenticateRequest")
    request.field.add(name="entity", number=1, type=string)
    request.field.add(
        name="credentials",
        number=2,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name=".proto.rpc.v1.Credentials",
    )
    response = file.message_type.add(name="AuthenticateResponse")
    response.field.add(name="access_token", number=1, type=string)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return tuple(  # type: ignore[return-value]
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"proto.rpc.v1.{name}"))
        for name in ("AuthenticateRequest", "AuthenticateResponse")
    )


_AuthenticateRequest, _AuthenticateResponse = _message_classes()


def authenticate_request(api_key_id: str, api_key: str) -> bytes:
    """The serialized ``AuthenticateRequest`` exchanging an API key for an access token."""
    request = _AuthenticateRequest(entity=api_key_id)
    request.credentials.type = "api-key"
    request.credentials.payload = api_key
    return request.SerializeToString()  # type: ignore[no-any-return]


def access_token(reply: bytes) -> str:
    """The access token in a serialized ``AuthenticateResponse`` (``""`` if it holds none).

    Raises protobuf's ``DecodeError`` when the bytes are not such a message.
    """
    return str(_AuthenticateResponse.FromString(reply).access_token)
