"""Tradebridge's shared library: the pure domain, use cases, ports, adapters and configuration."""

__version__ = "0.1.0"
