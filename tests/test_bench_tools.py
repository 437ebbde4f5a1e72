"""The in-process micro-benchmarks still run every bench case through the real pipeline.

They assert nothing about speed (that is what they print); these tests only keep them
working as the gateway changes: each case answers 200 (pipeline_micro asserts it on
every round) and gets its line. `bench/run.py` needs nginx, wrk and Node and is run by
hand (bench/README.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CASES = list(yaml.safe_load((ROOT / "bench" / "cases.yaml").read_text())["cases"])


def _run(*argv: str) -> list[str]:
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("extra,what", [((), "a call"), (("--shell",), "the shell of")])
def test_pipeline_micro_runs_every_case(extra, what):
    lines = _run("bench/pipeline_micro.py", "--rounds", "1", "--calls", "2", *extra)
    assert [line.split(":")[0] for line in lines] == CASES
    assert all(f" µs {what} (" in line for line in lines), lines


def test_mapping_micro_maps_every_case():
    lines = _run("bench/mapping_micro.py", "--rounds", "1", "--loops", "2")
    assert {line.split(":")[0] for line in lines} == set(CASES)


async def test_the_naive_peer_serves_what_the_gateway_serves_in_every_case(aiohttp_server,
                                                                           tmp_path):
    """`bench/run.py` prints the naive proxy's run of each case as the floor the gateway's
    run is compared with: the naive proxy must translate the same messages. Both read the
    bench's captured answers from one real server, as they read them from nginx."""
    import asyncio
    import os
    import socket

    import aiohttp
    from aiohttp import web

    from gateway.tools.offline import InProcessGateway

    spec = yaml.safe_load((ROOT / "bench" / "cases.yaml").read_text())
    files: dict[str, str] = {}  # nginx location (below the upstream root) -> fixture file
    for case in spec["cases"].values():
        for item in case["serve"]:
            files[f"/{case['upstream']}{case['base_path']}{item['location']}"] = item["file"]

    async def serve(request: web.Request) -> web.Response:
        name = files[request.path].replace("$arg_page", request.query.get("page", ""))
        body = (ROOT / "bench" / "fixtures" / name).read_text().replace("{{UPSTREAM}}", root)
        kind = "application/xml" if name.endswith(".xml") else "application/json"
        return web.Response(text=body, content_type=kind)

    app = web.Application()
    for location in files:
        app.router.add_get(location, serve)
    upstream = await aiohttp_server(app)
    root = str(upstream.make_url("")).rstrip("/")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    peer = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "peers" / "naive_aiohttp.py"), "--port", str(port),
        "--upstream-root", root, "--key", spec["api_key"], "--json", "orjson")
    config = tmp_path / "routes.yaml"
    config.write_text((ROOT / "bench" / "routes.yaml").read_text().replace(
        "../mappings/", f"{ROOT}/mappings/"))
    env = {**os.environ, "BENCH_UPSTREAM": root, "GATEWAY_PORT": "1",
           "GATEWAY_API_KEYS": spec["api_key"], "GATEWAY_CURSOR_SECRET": spec["cursor_secret"]}
    auth = {"Authorization": f"Bearer {spec['api_key']}"}
    try:
        async with aiohttp.ClientSession() as client, aiohttp.ClientSession() as session, \
                InProcessGateway(config, env, session) as gateway:
            for name, case in spec["cases"].items():
                path, _, query = case["gateway_path"].partition("?")
                expected = await gateway.call("GET", path, query=dict(
                    pair.split("=") for pair in query.split("&") if pair), headers=auth)
                assert expected.status == 200, expected.body
                for _ in range(100):  # the peer is starting
                    try:
                        async with client.get(f"http://127.0.0.1:{port}{case['gateway_path']}",
                                              headers=auth) as answer:
                            assert answer.status == 200, await answer.text()
                            served = await answer.json()
                        break
                    except aiohttp.ClientConnectorError:
                        await asyncio.sleep(0.1)
                else:
                    pytest.fail("the naive peer did not start")
                assert [(str(m["id"]), m["text"]) for m in served["data"]] == [
                    (m["id"], m["text"]) for m in expected.body["data"]], name
                assert (served["next_cursor"] is None) == (expected.body["next_cursor"] is None)
    finally:
        peer.terminate()
        await peer.wait()
