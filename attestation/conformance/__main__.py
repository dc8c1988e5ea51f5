"""``python -m attestation.conformance``: the conformance CLI (see ``cli.py``)."""

from __future__ import annotations

import sys

from attestation.conformance.cli import main

if __name__ == "__main__":
    sys.exit(main())
