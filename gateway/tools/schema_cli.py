"""`chat-gateway schema [routes|mapping] [--output FILE]`: the JSON Schema editors use to
complete and check routes.yaml or a mapping file (the same as the committed
`schemas/*.schema.json`, which `--output schemas/<kind>.schema.json` regenerates)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schema = commands.add_parser("schema", help="print the JSON Schema of routes.yaml or of "
                                                "a mapping file", description=__doc__)
    schema.add_argument("kind", choices=["routes", "mapping"], nargs="?", default="mapping",
                        help="which file's schema (default: mapping)")
    schema.add_argument("--output", type=Path, default=None,
                        help="write it to this file (default: standard output)")
    schema.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config.published import dump

    text = dump(args.kind)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0
