"""`python -m loadwatch.target [options]`: the demo Tool Catalog service in the foreground."""

from __future__ import annotations

import sys

from loadwatch.target.server import main

sys.exit(main())
