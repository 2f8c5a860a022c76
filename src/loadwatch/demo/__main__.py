"""`python -m loadwatch.demo [options]`: the demo Tool Catalog service in the foreground."""

from __future__ import annotations

import sys

from loadwatch.demo.server import main

sys.exit(main())
