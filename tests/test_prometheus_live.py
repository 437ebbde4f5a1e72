"""A real Prometheus scrapes the gateway and answers queries about it.

The gateway is served by `web.AppRunner`/`TCPSite` on a free loopback port (not the
test client); Prometheus 2.x runs as a subprocess with a 1 s scrape interval, the
project's rule files loaded, and is killed in a `finally`. Without the `prometheus`
binary the test fails when $CI is set and is skipped otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from gateway.server import create_app
from tests.conftest import AUTH, ROOT, ROUTES
from tests.test_metrics import require
from tests.test_workers import free_port

RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
DEADLINE = 30.0


@pytest.fixture
async def gateway_url(gateway_env, registry, clock):
    runner = web.AppRunner(create_app(ROUTES, gateway_env, registry=registry, clock=clock),
                           access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"{host}:{port}"
    finally:
        await runner.cleanup()


def prometheus_config(tmp_path: Path, target: str) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                   "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULES],
        "scrape_configs": [{"job_name": "chat-gateway", "metrics_path": "/metrics",
                            "static_configs": [{"targets": [target]}]}],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


async def query(session: aiohttp.ClientSession, api: str, promql: str) -> list[dict]:
    async with session.get(f"{api}/api/v1/query", params={"query": promql}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


async def poll(check, log: Path):
    """`await check()` until it returns something truthy, for at most DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            result = await check()
            if result:
                return result
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus did not get there in {DEADLINE:g} s; its log:\n"
                        f"{log.read_text()[-3000:]}")
        await asyncio.sleep(0.2)


async def test_prometheus_scrapes_the_gateway_and_answers_queries(gateway_url, tmp_path):
    binary = require("prometheus")
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(f"http://{gateway_url}/v1/storeden/chats",
                                   headers=AUTH) as response:
                assert response.status == 200
        async with session.get(f"http://{gateway_url}/v1/storeden/chats?cursor=forged",
                               headers=AUTH) as response:
            assert response.status == 400

        port = free_port()
        api = f"http://127.0.0.1:{port}"
        log = tmp_path / "prometheus.log"
        started = time.monotonic()
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [binary, f"--config.file={prometheus_config(tmp_path, gateway_url)}",
                 f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=output, stderr=subprocess.STDOUT)
        try:
            async def storeden_series():
                found = await query(session, api,
                                    'chat_gateway_requests_total{upstream="storeden"}')
                return found if len(found) == 2 else None

            found = await poll(storeden_series, log)
            round_trip = time.monotonic() - started
            by_code = {r["metric"]["code"]: float(r["value"][1]) for r in found}
            assert by_code == {"200": 3.0, "400": 1.0}
            assert {r["metric"]["job"] for r in found} == {"chat-gateway"}
            assert {r["metric"]["operation"] for r in found} == {"list_chats"}

            [up] = await query(session, api, 'up{job="chat-gateway"}')
            assert up["metric"]["instance"] == gateway_url and float(up["value"][1]) == 1.0
            [rejected] = await query(session, api, "chat_gateway_cursor_rejections_total > 0")
            assert (rejected["metric"]["reason"], float(rejected["value"][1])) == (
                "malformed", 1.0)

            async def evaluated_rules():
                async with session.get(f"{api}/api/v1/rules") as response:
                    groups = (await response.json())["data"]["groups"]
                rules = [rule for group in groups for rule in group["rules"]]
                return rules if rules and all(r["health"] != "unknown" for r in rules) else None

            rules = await poll(evaluated_rules, log)
            assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
            print(f"\nPrometheus: started to first answered query in {round_trip:.2f} s; "
                  f"{len(rules)} rules evaluated without error")
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
