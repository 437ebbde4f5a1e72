"""`chat-gateway schema [routes|mapping]`: print the JSON Schema editors use to complete
and check routes.yaml or a mapping file (the same as the committed `schemas/*.json`)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    schema = commands.add_parser("schema", help="print the JSON Schema of routes.yaml or of "
                                                "a mapping file")
    schema.add_argument("kind", choices=["routes", "mapping"], nargs="?", default="mapping")
    schema.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config.published import dump

    sys.stdout.write(dump(args.kind))
    return 0
