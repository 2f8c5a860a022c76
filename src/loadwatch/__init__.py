"""loadwatch: nightly load tests and performance-regression detection for HTTP services."""

__version__ = "0.1.0"
