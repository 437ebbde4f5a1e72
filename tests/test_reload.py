"""Hot reload without a failed request: the new config is compiled off the event loop and
swapped in whole; a request in flight finishes on the config it started with."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.cursors import key_id
from gateway.server import create_app
from gateway.state import STATE
from tests.conftest import AUTH, ROOT, ROUTES, SECRET
from tests.test_paging_styles import write_config

CLIENTS, RELOADS = 8, 20


def copy_config(directory: Path) -> Path:
    shutil.copy(ROOT / "routes.yaml", directory / "routes.yaml")
    shutil.copytree(ROOT / "mappings", directory / "mappings")
    return directory / "routes.yaml"


async def test_reloads_under_load_fail_no_request(aiohttp_client, gateway_env, tmp_path):
    routes = copy_config(tmp_path)
    mapping = tmp_path / "mappings" / "storeden.yaml"
    good = mapping.read_text()
    variants = [f"{good}\n# variant {n}\n" for n in (1, 2)]  # another text, another sha256
    broken = good.replace("        title: name\n", "        titel: name\n")
    assert broken != good and variants[0] != good

    gateway = await aiohttp_client(create_app(routes, gateway_env, registry=CollectorRegistry()))
    state = gateway.app[STATE]
    done, answers, failures = asyncio.Event(), [], []
    progress = asyncio.Condition()

    async def client(index: int) -> None:
        paths = ["/v1/storeden/chats/49077/messages?limit=7", "/v1/hapihub/chats",
                 "/v1/smartsender/chats/7001/messages?limit=25", "/v1/superoffice/chats"]
        n = 0
        while not done.is_set():
            path = paths[(index + n) % len(paths)]
            n += 1
            response = await gateway.get(path, headers=AUTH)
            body = await response.json()
            (answers if response.status == 200 else failures).append((path, response.status))
            if response.status == 200 and body.get("next_cursor"):  # and its next page
                more = await gateway.get(path, params={"cursor": body["next_cursor"]},
                                         headers=AUTH)
                (answers if more.status == 200 else failures).append((path, more.status))
            async with progress:
                progress.notify_all()

    tasks = [asyncio.create_task(client(i)) for i in range(CLIENTS)]
    digests = []
    try:
        for n in range(RELOADS):
            valid = n % 2 == 0
            mapping.write_text(variants[(n // 2) % 2] if valid else broken)
            assert await state.reload_async() is valid
            digests.append(state.config.sha256)
            seen = len(answers) + len(failures)
            async with progress:  # some requests complete on each config
                await asyncio.wait_for(progress.wait_for(
                    lambda seen=seen: len(answers) + len(failures) >= seen + CLIENTS), 60)
    finally:
        done.set()
        await asyncio.gather(*tasks)
    assert failures == []
    assert len(answers) > RELOADS * CLIENTS
    assert len(set(digests)) == 2  # the two valid variants took turns; the broken never did


async def test_the_config_is_compiled_while_the_loop_serves(aiohttp_client, gateway_env,
                                                            tmp_path):
    """Reading a mapping that is a FIFO blocks the loader until the test writes it: the
    gateway answers a request meanwhile, which it could not if loading blocked the loop."""
    routes = copy_config(tmp_path)
    mapping = tmp_path / "mappings" / "hapihub.yaml"
    text = mapping.read_text()
    gateway = await aiohttp_client(create_app(routes, gateway_env, registry=CollectorRegistry()))
    mapping.unlink()
    os.mkfifo(mapping)
    fed_late = threading.Event()

    def feed(late: bool) -> None:
        if late:
            fed_late.set()
        with open(mapping, "w", encoding="utf-8") as fifo:
            fifo.write(text)

    backstop = threading.Timer(30, feed, args=(True,))  # unblocks a loop-blocking loader
    backstop.start()
    try:
        reload = asyncio.create_task(gateway.app[STATE].reload_async())
        response = await gateway.get("/v1/storeden/chats", headers=AUTH)
        assert response.status == 200
        assert not fed_late.is_set(), "the request waited for the config to load"
        await asyncio.to_thread(feed, False)
        assert await asyncio.wait_for(reload, 60) is True
    finally:
        backstop.cancel()


async def test_a_request_in_flight_finishes_on_the_config_it_started_with(aiohttp_client,
                                                                          tmp_path):
    gate, arrived = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await gate.wait()
        return web.json_response({"meta": {}, "messages": [{"id": "m1", "text": "hi"},
                                                            {"id": "m2", "text": "ho"}]})

    upstream_app = web.Application()
    upstream_app.router.add_get("/api/history", slow)
    upstream = await aiohttp_client(upstream_app)
    routes = write_config(tmp_path, str(upstream.make_url("")).rstrip("/"))
    gateway = await aiohttp_client(create_app(routes, {}, registry=CollectorRegistry()))

    in_flight = asyncio.create_task(
        gateway.get("/v1/token-query/chats/C1/messages?limit=1", headers=AUTH))
    await asyncio.wait_for(arrived.wait(), 60)
    text = routes.read_text()
    assert text.count(SECRET) == 1 and "name: token-query," in text
    routes.write_text(text.replace("name: token-query,", "name: renamed,")
                      .replace(SECRET, "another-cursor-secret-0123"))
    assert await gateway.app[STATE].reload_async() is True  # the route is gone now
    gate.set()
    response = await in_flight
    assert response.status == 200, await response.text()
    body = await response.json()
    assert [m["id"] for m in body["data"]] == ["m1"]
    # its cursor is signed with the key of the config it started with
    payload = body["next_cursor"].split(".")[0]
    signed_by = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["k"]
    assert signed_by == key_id(SECRET.encode())
    gone = await gateway.get("/v1/token-query/chats/C1/messages", headers=AUTH)
    assert gone.status == 404


async def test_watching_reloads_when_a_mapping_changes(aiohttp_client, gateway_env, tmp_path):
    routes = copy_config(tmp_path)
    env = {**gateway_env, "GATEWAY_CONFIG_WATCH_SECONDS": "0.05"}
    gateway = await aiohttp_client(create_app(routes, env, registry=CollectorRegistry()))
    state = gateway.app[STATE]
    before = state.config.sha256
    mapping = tmp_path / "mappings" / "storeden.yaml"
    mapping.write_text(mapping.read_text() + "\n# edited\n")
    os.utime(mapping, (os.stat(mapping).st_atime, os.stat(mapping).st_mtime + 5))
    for _ in range(1200):  # up to a minute on a loaded machine; usually a few polls
        if state.config.sha256 != before:
            break
        await asyncio.sleep(0.05)
    assert state.config.sha256 != before


def test_a_request_is_authenticated_again_against_a_reloaded_config(gateway_env):
    """Admission and the pipeline share one authentication per request, kept with the
    config it was made against: a reload in between (a key removed) is not bypassed."""
    import dataclasses

    from aiohttp.test_utils import make_mocked_request

    from gateway.errors import Unauthorized
    from gateway.pipeline import authenticate
    from tests.conftest import API_KEY

    app = create_app(ROUTES, gateway_env, registry=CollectorRegistry())
    config = app[STATE].config
    request = make_mocked_request("GET", "/v1/storeden/chats",
                                  headers={"Authorization": f"Bearer {API_KEY}"})
    first = authenticate(request, config)
    assert authenticate(request, config) is first
    reloaded = dataclasses.replace(config, consumers={})
    with pytest.raises(Unauthorized):
        authenticate(request, reloaded)
