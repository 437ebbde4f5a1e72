"""Field mapping alone: µs to map each bench page's records with the shipped mappings.

Decodes the captured answers in `fixtures/` with the gateway's own decoders, selects the
items as the operation does, and times the mapper (bound once per page where the checkout
has `bind`, else `map()` per record) over every record of the page
(best of several rounds of process time). `--root` measures another checkout's gateway.

    python bench/mapping_micro.py [--root DIR] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PAGES = {  # case: (route, operation, fixture files, format)
    "json": ("storeden", "list_messages", ["json-page.json"], "json"),
    "xml": ("superoffice", "list_messages", ["xml-messages.xml"], "xml"),
    "walk": ("smartsender", "list_messages", [f"walk-page-{n}.json" for n in (1, 2, 3)], "json"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=str(BENCH.parent))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loops", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    from gateway.config.loader import load_config
    from gateway.mapping.codecs import decode_json, decode_xml
    from gateway.mapping.expressions import options_for

    env = {**os.environ, "BENCH_UPSTREAM": "http://127.0.0.1:9", "GATEWAY_PORT": "1",
           "GATEWAY_API_KEYS": "bench-api-key-0123456789",
           "GATEWAY_CURSOR_SECRET": "bench-cursor-secret-0123456789"}
    routes = (BENCH / "routes.yaml").read_text().replace("../mappings/", f"{args.root}/mappings/")
    path = Path(f"/tmp/mapping-micro-{os.getpid()}.yaml")
    path.write_text(routes)
    try:
        config = load_config(path, env)
    finally:
        path.unlink()
    for case, (route_name, op_name, files, fmt) in PAGES.items():
        route = config.routes[route_name]
        operation = route.upstream.operations[op_name]
        lists = route.upstream.xml_lists if fmt == "xml" else ()
        records: list[Any] = []
        for name in files:
            body = (BENCH / "fixtures" / name).read_bytes()
            decoded = decode_xml(body, lists) if fmt == "xml" else decode_json(body)
            options = options_for({"chat_id": "1", "query": {}, "body": {}, "vars": {}, "steps": {}})
            records += operation.items.search(decoded, options)
        page = (operation.mapper, records, options, route.upstream.zone)
        best = _best(partial(_whole, *page), args.rounds, args.loops)
        print(f"{case}: {len(records)} records, {best * 1e6:.0f} µs a page "
              f"({best * 1e6 / len(records):.2f} µs a record)")
        if case == "xml" and hasattr(operation.mapper, "reader"):
            best = _best(partial(_sorted, *page), args.rounds, args.loops)
            print(f"{case}: {len(records)} ids read alone + 20 records, {best * 1e6:.0f} µs")


def _whole(mapper: Any, records: list[Any], options: Any, zone: Any) -> None:
    mapped = _bound(mapper, options, zone)
    for record in records:
        mapped(record)


def _sorted(mapper: Any, records: list[Any], options: Any, zone: Any) -> None:
    """What the XML page maps: every record's sort key (id), and the 20 it serves."""
    read_id = mapper.reader("id")
    for record in records:
        read_id(record, options, zone)
    mapped = _bound(mapper, options, zone)
    for record in records[:20]:
        mapped(record)


def _bound(mapper: Any, options: Any, zone: Any) -> Any:
    """The page's mapper as the gateway calls it: bound once per page where the checkout
    has `bind` (request-constant values computed once), else `map` per record."""
    if hasattr(mapper, "bind"):
        return mapper.bind(options, zone)
    return lambda record: mapper.map(record, options, zone)


def _best(run: Any, rounds: int, loops: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(loops):
            run()
        best = min(best, (time.process_time() - start) / loops)
    return best


if __name__ == "__main__":
    main()
