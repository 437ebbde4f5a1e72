"""`chat-gateway test-mappings [--config routes.yaml] [NAME…]`: run the mapping fixtures
offline (`mappings/fixtures/<name>.yaml`, see `gateway.tools.fixtures`) and print a
unified diff for every case whose upstream requests or canonical result differ.
Exits 1 when a case fails, 2 when there is nothing (or nothing by that name) to run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import yaml

__all__ = ["register", "mapping_files"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("test-mappings", help="run the mapping fixtures offline",
                                 description=__doc__)
    parser.add_argument("--config", type=Path, default=None,
                        help="routes.yaml whose mapping folders hold fixtures/ (default: ./routes.yaml)")
    parser.add_argument("names", nargs="*", help="fixture files to run, by name (mappings/fixtures/NAME.yaml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print failures and the total only")
    parser.set_defaults(run=run)


def mapping_files(config: Path) -> list[Path]:
    """The mapping files routes.yaml names (read as text: no environment needed)."""
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    upstreams = data.get("upstreams") or {}
    return [(config.parent / spec["mapping"]).resolve() for spec in upstreams.values()
            if isinstance(spec, dict) and isinstance(spec.get("mapping"), str)]


def run(args: argparse.Namespace) -> int:
    from ..cli import default_config_path
    from ..errors import ConfigError
    from .fixtures import discover, load_fixture_file, run_file

    config = args.config or default_config_path()
    try:
        mappings = mapping_files(config)
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: cannot read {config}: {exc}", file=sys.stderr)
        return 2
    files = discover([m.parent for m in mappings] or [config.parent / "mappings"])
    unknown = sorted(set(args.names) - {f.stem for f in files})
    if unknown or not files:
        print(f"error: no fixtures named {unknown or 'anything'}; found {[f.stem for f in files]}",
              file=sys.stderr)
        return 2
    failed = total = 0
    tested: set[Path] = set()
    for path in files:
        if args.names and path.stem not in args.names:
            continue
        try:
            fixture = load_fixture_file(path)
        except ConfigError as exc:
            print(f"FAIL {path.stem}: {exc}")
            failed, total = failed + 1, total + 1
            continue
        tested.add(fixture.mapping)
        for result in asyncio.run(run_file(fixture)):
            total += 1
            if result.ok:
                if not args.quiet:
                    print(f"ok   {path.stem} · {result.name}")
                continue
            failed += 1
            print(f"FAIL {path.stem} · {result.name}\n{result.diff()}")
    if not args.names:
        for mapping in mappings:
            if mapping not in tested:
                print(f"warning: {mapping.name} has no fixtures", file=sys.stderr)
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0
