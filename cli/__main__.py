"""``python -m cli``: the ``tradebridge`` command line."""

from cli.app import run

if __name__ == "__main__":
    run()
