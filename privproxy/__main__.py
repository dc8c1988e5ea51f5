"""`python -m privproxy` → `privproxy.cli.main.main()`."""

from __future__ import annotations

import sys

from privproxy.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
