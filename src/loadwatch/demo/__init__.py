"""The bundled demo Tool Catalog service (the default system under test): a Postgres-backed aiohttp
rebuild of the seed's API with an LRU cache, counters and fault injection."""

from __future__ import annotations

from loadwatch.demo.faults import EndpointFaults, Faults
from loadwatch.demo.process import DemoTarget

__all__ = ["DemoTarget", "EndpointFaults", "Faults"]
