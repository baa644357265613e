"""viam-billing on trio: the very program of quickstart_asyncio.py, run by trio instead of asyncio.

python examples/quickstart_trio.py                 # against the bundled local emulator (offline)
python examples/quickstart_trio.py ORG_ID          # against app.viam.com, with VIAM_API_KEY and
                                                   # VIAM_API_KEY_ID set in the environment
"""

from __future__ import annotations

import sys

import trio
from quickstart_asyncio import main

if __name__ == "__main__":
    trio.run(main, sys.argv[1:])
