"""``python -m tradebridge_cli``: the ``tradebridge`` command line."""

from tradebridge_cli.app import run

if __name__ == "__main__":
    run()
