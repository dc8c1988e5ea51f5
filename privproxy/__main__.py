"""`python -m privproxy` → `privproxy.cli.main()`."""

from __future__ import annotations

import sys

from privproxy.cli import main

if __name__ == "__main__":
    sys.exit(main())
