"""``python -m viam_billing_cli``: the ``viam-billing`` command line."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main()
