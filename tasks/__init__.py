"""Prefect tasks: thin adapters over loadwatch's core (retries, timeouts, NO_CACHE, logging)."""
