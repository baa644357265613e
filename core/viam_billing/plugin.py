"""Everything a viam-billing plugin needs, in one public module.

viam-billing's own plugins (the ``grpc`` and ``replay`` transports, the built-in sinks) are written on this
module and :mod:`viam_billing` alone, exactly as a third party writes one. A plugin is a module with hook
implementations, listed in an entry-point group under each name it provides (see :mod:`viam_billing.hookspecs`).

A sink::

    from viam_billing.plugin import ConfigurationError, Record, Sink, hookimpl

    class ThresholdSink(Sink):
        async def write(self, record: Record) -> None: ...

    @hookimpl
    def register_sinks(register):
        register("threshold", ThresholdSink.from_spec)      # spec "threshold:100" -> from_spec("100")

    # pyproject.toml: [project.entry-points."viam_billing.sinks"]  threshold = "my_package"

A transport subclasses :class:`AsyncTransport` (``unary``, ``stream``, ``aclose``; optionally ``secrets``), maps
its own failures into the :class:`BillingError` tree at its edge, lets cancellation through untouched, and is
checked with :mod:`viam_billing.testing`. It is registered with ``register_transports`` and listed under
``viam_billing.transports``.

An observer implements ``call_started`` and ``call_finished`` and is listed under ``viam_billing.observers``.
Each observed call has one :class:`CallContext`, on both events: an observer puts request metadata in it (a trace
header, say), and reads in ``call_finished`` what the transport and the client reported::

    @hookimpl
    def call_started(event):
        event.context.metadata["x-request-id"] = new_id()

    @hookimpl
    def call_finished(event):
        call = event.context
        log(call.operation.name, event.outcome, call.server_address, len(call.retries), call.replayed)

A transport supports observers by reading :func:`current_call` once per call: when it is not ``None``, it sends
``call.metadata`` with the request, sets ``call.server_address``/``call.server_port`` (or ``call.replayed``), and
reports each retry with :meth:`CallContext.record_retry`. Without an observer :func:`current_call` is ``None``:
the check is all it costs.

What is here:

- hooks: :data:`hookimpl`, :class:`TransportFactory`, :class:`SinkFactory`, :class:`RegisterTransport`,
  :class:`RegisterSink`, the call events :class:`CallStarted` and :class:`CallFinished`;
- observing calls: :class:`CallContext` (one per call: metadata to send, what the transport reports),
  :class:`CallRetry`, :func:`current_call`;
- transports: :class:`AsyncTransport`, the operation table (:data:`OPERATIONS`, :class:`Operation`,
  :func:`operation`, :func:`org_id_of`) and :func:`status_error` to map a status code to its exception;
- sinks: :class:`Sink`, :class:`Record`;
- models as data: :func:`model_fields` (the shape of each field: the one walk over a model), :func:`to_data`,
  :func:`from_data`, :func:`encode_time`, :func:`decode_time`;
- files: :func:`atomic_file`, :func:`atomic_write` (whole or not at all), :func:`safe_name` (a file name from a
  server id), :func:`ensure_writable_directory` (fail early on a bad destination);
- errors: :class:`BillingError` and the classes a plugin raises;
- :func:`publish`, for a plugin package whose public names live in private modules.
"""

from __future__ import annotations

from . import __all__ as _top_level
from ._enums import StatusCode as StatusCode
from ._errors import BillingError as BillingError
from ._errors import ClientClosedError as ClientClosedError
from ._errors import ConfigurationError as ConfigurationError
from ._errors import ConnectError as ConnectError
from ._errors import DeadlineExceededError as DeadlineExceededError
from ._errors import DecodeError as DecodeError
from ._errors import FileError as FileError
from ._errors import PluginError as PluginError
from ._errors import ProtocolError as ProtocolError
from ._errors import SinkError as SinkError
from ._errors import StatusError as StatusError
from ._errors import TransportError as TransportError
from ._errors import ValidationError as ValidationError
from ._errors import status_error as status_error
from ._events import CallContext as CallContext
from ._events import CallFinished as CallFinished
from ._events import CallRetry as CallRetry
from ._events import CallStarted as CallStarted
from ._events import current_call as current_call
from ._exports import publish as publish
from ._files import atomic_file as atomic_file
from ._files import atomic_write as atomic_write
from ._files import ensure_writable_directory as ensure_writable_directory
from ._files import safe_name as safe_name
from ._models import Model as Model
from ._operations import OPERATIONS as OPERATIONS
from ._operations import Operation as Operation
from ._operations import operation as operation
from ._operations import org_id_of as org_id_of
from ._schema import FieldKind as FieldKind
from ._schema import ModelField as ModelField
from ._schema import model_fields as model_fields
from ._serde import decode_time as decode_time
from ._serde import encode_time as encode_time
from ._serde import from_data as from_data
from ._serde import to_data as to_data
from ._sinks import Record as Record
from ._sinks import Sink as Sink
from ._transport import AsyncTransport as AsyncTransport
from .hookspecs import RegisterSink as RegisterSink
from .hookspecs import RegisterTransport as RegisterTransport
from .hookspecs import SinkFactory as SinkFactory
from .hookspecs import TransportFactory as TransportFactory
from .hookspecs import hookimpl as hookimpl

__all__ = [
    "AsyncTransport",
    "BillingError",
    "CallContext",
    "CallFinished",
    "CallRetry",
    "CallStarted",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "DeadlineExceededError",
    "DecodeError",
    "FieldKind",
    "FileError",
    "Model",
    "ModelField",
    "OPERATIONS",
    "Operation",
    "PluginError",
    "ProtocolError",
    "Record",
    "RegisterSink",
    "RegisterTransport",
    "Sink",
    "SinkError",
    "SinkFactory",
    "StatusCode",
    "StatusError",
    "TransportError",
    "TransportFactory",
    "ValidationError",
    "atomic_file",
    "atomic_write",
    "current_call",
    "decode_time",
    "encode_time",
    "ensure_writable_directory",
    "from_data",
    "hookimpl",
    "model_fields",
    "operation",
    "org_id_of",
    "publish",
    "safe_name",
    "status_error",
    "to_data",
]

# Names that viam_billing also exports are at home there; the rest here.
publish(globals(), names=[name for name in __all__ if name not in _top_level])
publish(globals(), names=[name for name in __all__ if name in _top_level], package="viam_billing")
