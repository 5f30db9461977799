"""The Azure-like local stack: ``python -m local.stack --azure-like`` (see ``stack.py``).

TLS (``tls.py``), Azurite with OAuth (``azurite.py``), per-app identity endpoints
(``identities.py``), the IaC's app settings and a Key Vault stand-in (``bicep_eval.py``,
``settings.py``), the deployment layout (``layout.py``), app processes (``processes.py``) and
the orchestration (``stack.py``). Only ``add_arguments`` lives here, so the normal stack's
parser does not import the rest.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the Azure-like mode's own options to ``python -m local.stack``'s parser."""
    parser.add_argument(
        "--token-lifetime-s", type=float, default=3600.0,
        help="with --azure-like: lifetime of every Entra token (Azure's are about an hour)",
    )  # fmt: skip
    parser.add_argument(
        "--omit-secret", action="append", default=[], metavar="NAME",
        help="with --azure-like: leave this Key Vault secret out of the local vault, so its "
        "reference stays unresolved (what a first deploy without secrets looks like)",
    )  # fmt: skip
