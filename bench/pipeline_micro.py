"""The gateway's own work per canonical call, without sockets: µs of process time.

Every middleware and `pipeline.handle()` run as in production (auth → route → input →
build → call → decode → map → paginate → render, access line and metrics included), in
one process, on the app of `gateway.tools.offline.InProcessGateway`, called with
requests cloned from one mocked request (making a mocked request each time would cost
more than the call); only the upstream session is swapped for one answering the
captured bench answers from memory. What this leaves
out — aiohttp's HTTP server and client and the sockets — is what the naive peer pays
too, so this is the part of `run.py`'s CPU µs/request the gateway itself adds. Best of
several rounds; `--root` measures another checkout.

`--shell` measures the shell alone: `pipeline.handle` is swapped for a handler that
authenticates, names the route and answers a fixed 6 KB page, so what remains is
aiohttp's router and application, every middleware, the metrics and the access line.

    python bench/pipeline_micro.py [--root DIR] [--rounds 7] [--calls 300] [--shell]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from importlib import import_module
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
_TYPES = {"json": "application/json", "xml": "application/xml"}


def _answers(case: dict[str, Any], upstream: str) -> list[tuple[str, bytes]]:
    """(URL path below the upstream, body) for each captured answer of a case."""
    out = []
    for item in case["capture"]:
        body = (BENCH / "fixtures" / item["file"]).read_text().replace("{{UPSTREAM}}", upstream)
        out.append((item["file"], body.encode()))
    return out


def _shell_only() -> None:
    """`pipeline.handle` answers a fixed page: the calls measure everything around it."""
    from aiohttp import web

    server = import_module("gateway.server")
    state_key = import_module("gateway.state")
    page = b'{"data":[],"next_cursor":null}' * 200

    async def canned(request: web.Request) -> web.Response:
        server.authenticate(request, request.app[state_key.STATE].config)
        request[state_key.ROUTE] = request.match_info["upstream"]
        request[state_key.OPERATION] = request.match_info.route.name
        request[state_key.UPSTREAM_CALLS] = 1
        return web.Response(body=page, content_type="application/json", charset="utf-8")

    server.handle = canned


async def _measure(root: str, rounds: int, calls: int, cases: list[str] | None,
                   shell: bool) -> None:
    sys.path.insert(0, root)
    from aiohttp.test_utils import make_mocked_request
    from yarl import URL

    if shell:
        _shell_only()

    from gateway.gc_tuning import tune_gc
    from gateway.tools.offline import Answer, InProcessGateway, _BufferedResponse, _Pending

    spec = yaml.safe_load((BENCH / "cases.yaml").read_text())
    upstream = "http://127.0.0.1:9"

    class Replay:
        """Answers each request with the case's captured answers, in turn, for ever."""

        closed = False

        def __init__(self) -> None:
            self.script: list[_BufferedResponse] = []  # built once: they hold no state
            self.next = 0

        def request(self, method: str, url: Any, **_: Any) -> _Pending:
            async def answer() -> _BufferedResponse:
                reply = self.script[self.next % len(self.script)]
                self.next += 1
                return reply
            return _Pending(answer)

        async def close(self) -> None:
            pass

    env = {**os.environ, "BENCH_UPSTREAM": upstream, "GATEWAY_PORT": "1",
           "GATEWAY_API_KEYS": spec["api_key"], "GATEWAY_CURSOR_SECRET": spec["cursor_secret"]}
    routes = Path(f"/tmp/pipeline-micro-{os.getpid()}.yaml")
    routes.write_text((BENCH / "routes.yaml").read_text().replace("../mappings/",
                                                                  f"{root}/mappings/"))
    session = Replay()
    headers = {"Authorization": f"Bearer {spec['api_key']}"}
    try:
        async with InProcessGateway(routes, env, session) as gateway:
            tune_gc()  # as `serve` does once the app is loaded
            for name, case in spec["cases"].items():
                if cases and name not in cases:
                    continue
                kind = "xml" if case["capture"][0].get("accept", "").endswith("xml") else "json"
                session.script = [_BufferedResponse(Answer(200, {"Content-Type": _TYPES[kind]},
                                                           body))
                                  for _, body in _answers(case, upstream)]
                url = URL(case["gateway_path"])
                template = make_mocked_request("GET", str(url), headers=headers, app=gateway.app)
                best = float("inf")
                for _ in range(rounds):
                    start = time.process_time()
                    for _ in range(calls):
                        session.next = 0
                        response = await gateway.app._handle(template.clone(rel_url=url))
                    best = min(best, (time.process_time() - start) / calls)
                    assert response.status == 200, response.body  # type: ignore[attr-defined]
                what = "the shell of" if shell else "a call"
                print(f"{name}: {best * 1e6:.0f} µs {what} ({case['title']})")
    finally:
        routes.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(BENCH.parent))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--cases", help="e.g. json,walk (default: all)")
    parser.add_argument("--shell", action="store_true",
                        help="pipeline.handle answers a fixed page: measure the rest")
    args = parser.parse_args()
    # The access line is part of the cost: written, at INFO, to a sink nobody reads.
    sys.path.insert(0, args.root)
    logs = import_module("gateway.logs")
    logs.configure_logging("INFO")
    logging.getLogger("chat_gateway").handlers[0].setStream(open(os.devnull, "w"))  # type: ignore[attr-defined]
    asyncio.run(_measure(args.root, args.rounds, args.calls,
                         args.cases.split(",") if args.cases else None, args.shell))


if __name__ == "__main__":
    main()
