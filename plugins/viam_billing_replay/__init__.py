"""Record billing calls once, replay them offline: the ``"replay"`` transport and its pytest plugin.

The replay transport wraps another transport (the *inner* one: :data:`viam_billing.DEFAULT_TRANSPORT` unless
``inner=`` names another or is one). It answers each call from a *cassette*, a JSON file of recorded
interactions (operation, request, every response message, outcome, duration), and, when its record mode allows,
calls through the inner transport and records what happens::

    # replay only (the CI default): nothing is dialled, the inner transport is never built
    async with viam_billing.connect(transport="replay", cassette="tests/cassettes/report.json") as billing:
        usage = await billing.get_current_month_usage("org-1")

    # record once, against the emulator (or the service): options replay does not take go to the inner transport
    async with viam_billing.connect(
        transport="replay", cassette="tests/cassettes/report.json", record_mode="once",
        **emulator.connect_options(),
    ) as billing:
        ...

    # record through any transport, ready-built
    async with viam_billing.connect(
        transport="replay", cassette="offline.json", record_mode="once", inner=MockTransport(handler)
    ) as billing:
        ...

Replay is faithful: results equal the recorded models, recorded errors are raised again as the same
:mod:`viam_billing` error class with the same status code and message, and streams (invoice PDFs) are replayed
chunk by chunk, so early exits and cancellation behave as they do live. It works the same on asyncio and trio.

The workflow
------------

1. Write the test against the ``billing_client`` fixture (``pytest.mark.anyio``; the fixture is an async one).
2. Record once: ``pytest --billing-record-mode=once`` with the emulator (``viam-billing emulator``, or an
   ``Emulator`` started by a ``billing_connect_options`` fixture) or the service, with the credentials the inner
   transport reads by default. Each test gets ``cassettes/<module>/<test>.json`` beside its module.
3. Read the cassette and commit it. Billing e-mails and card and bank digits are redacted at record time, and
   the file is scanned for the secrets the inner transport holds (its ``secrets()``: keys, tokens) before it is
   written: if one is found nothing is saved.
4. CI runs plain ``pytest``: the record mode defaults to ``none``, so nothing is dialled and a request the
   cassette cannot answer fails with the nearest recorded candidates and the fields that differ.
5. When the code changes its calls, ``--billing-record-mode=new_episodes`` records only what is missing and
   ``--billing-record-mode=all`` re-records from scratch; interactions that are never played are reported at
   the end of the run (``--billing-unplayed=error`` fails the tests that leave some).

Record modes: ``none`` (replay only), ``once`` (record when the cassette does not exist, else replay only),
``new_episodes`` (replay what matches, record what does not), ``all`` (call through and rewrite); see
:class:`RecordMode`. Every option is described on :class:`ReplayTransport`.
"""

from __future__ import annotations

from viam_billing.plugin import publish as _publish

from ._cassette import FORMAT as FORMAT
from ._cassette import FORMAT_VERSION as FORMAT_VERSION
from ._cassette import Cassette as Cassette
from ._cassette import Interaction as Interaction
from ._cassette import RecordedError as RecordedError
from ._errors import CassetteError as CassetteError
from ._errors import CassetteFormatError as CassetteFormatError
from ._errors import CassetteSecretError as CassetteSecretError
from ._errors import StaleCassetteError as StaleCassetteError
from ._errors import UnmatchedRequestError as UnmatchedRequestError
from ._errors import UnplayedInteractionsWarning as UnplayedInteractionsWarning
from ._matching import DEFAULT_REDACTIONS as DEFAULT_REDACTIONS
from ._matching import REDACTED as REDACTED
from ._plugin import register_transports as register_transports
from ._transport import RecordMode as RecordMode
from ._transport import ReplayTransport as ReplayTransport

__all__ = [
    "Cassette",
    "CassetteError",
    "CassetteFormatError",
    "CassetteSecretError",
    "DEFAULT_REDACTIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "Interaction",
    "REDACTED",
    "RecordMode",
    "RecordedError",
    "ReplayTransport",
    "StaleCassetteError",
    "UnmatchedRequestError",
    "UnplayedInteractionsWarning",
    "register_transports",
]

_publish(globals())
