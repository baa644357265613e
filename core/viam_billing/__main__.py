"""``python -m viam_billing``: the ``viam-billing`` command line."""

from __future__ import annotations

from ._cli import main

if __name__ == "__main__":
    main()
