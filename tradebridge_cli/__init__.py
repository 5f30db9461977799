"""The ``tradebridge`` command line: see and steer a deployment through its ops API.

Runs on the operator's machine from the development environment (``scripts/tradebridge`` or
``python -m tradebridge_cli``); it is never part of the function app's package. See docs/cli.md.
"""
