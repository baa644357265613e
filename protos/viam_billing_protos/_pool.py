"""viam-billing's own descriptor pool.

Our messages are never registered in protobuf's default pool, so they load beside any other registration of
``viam.app.v1`` (the official Viam SDK's, of whatever version) in either import order. Only API that protobuf has
kept stable across the versions we support is used, so one generated file serves protobuf 6 and 7 alike.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool, message_factory, timestamp_pb2

POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)


class LoadedFile:
    """A .proto file added to :data:`POOL`, handing out its message classes and enum descriptors."""

    def __init__(self, serialized: bytes) -> None:
        # The pool parses the bytes itself: building a FileDescriptorProto here first would import descriptor_pb2,
        # a few milliseconds of every program's start-up spent on nothing the upb pool needs.
        self.descriptor = POOL.AddSerializedFile(serialized)

    def message(self, name: str) -> Any:
        return message_factory.GetMessageClass(self.descriptor.message_types_by_name[name])

    def enum(self, name: str) -> Any:
        return self.descriptor.enum_types_by_name[name]


def load_file(serialized: bytes) -> LoadedFile:
    """Add one serialized ``FileDescriptorProto`` to :data:`POOL`."""
    return LoadedFile(serialized)
