"""Two gateway apps (two replicas) sharing one real redis-server: Idempotency-Key
records and rate-limit buckets are shared; circuit breakers are per process by design."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from prometheus_client import CollectorRegistry

from gateway.emulators import FAULTS
from gateway.resilience.idempotency import Record
from gateway.resilience.redis_stores import RedisKeyStore
from gateway.server import create_app
from tests.conftest import AUTH, recorded
from tests.resilience.conftest import routes_file
from tests.resilience.test_idempotency import SEND, keyed, posts


@pytest.fixture
def two_replicas(aiohttp_client, gateway_env, redis_url, tmp_path):
    async def make(**sections):
        path = routes_file(tmp_path, **sections) if sections else None
        env = {**gateway_env, "GATEWAY_REDIS_URL": redis_url}
        from tests.conftest import ROUTES
        return [await aiohttp_client(create_app(path or ROUTES, env,
                                                registry=CollectorRegistry()))
                for _ in range(2)]
    return make


async def test_a_key_used_on_one_replica_is_replayed_by_the_other(two_replicas, emulators):
    a, b = await two_replicas()
    first = await a.post(SEND, json={"text": "shared"}, headers=keyed("r-1"))
    again = await b.post(SEND, json={"text": "shared"}, headers=keyed("r-1"))
    assert first.status == again.status == 201
    assert await first.read() == await again.read()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await b.post(SEND, json={"text": "other"}, headers=keyed("r-1"))).status == 422
    assert len(posts(emulators)) == 1


async def test_in_flight_on_one_replica_is_409_on_the_other(two_replicas, emulators):
    a, b = await two_replicas()
    emulators.apps["hapihub"][FAULTS].add("delay", delay=1.0, path="/chat-messages")
    first = asyncio.create_task(a.post(SEND, json={"text": "slow"}, headers=keyed("r-2")))
    while not posts(emulators):
        await asyncio.sleep(0.01)
    assert (await b.post(SEND, json={"text": "slow"}, headers=keyed("r-2"))).status == 409
    assert (await first).status == 201
    assert (await b.post(SEND, json={"text": "slow"}, headers=keyed("r-2"))).status == 201
    assert len(posts(emulators)) == 1


async def test_the_rate_limit_is_one_bucket_across_replicas(two_replicas, emulators):
    a, b = await two_replicas(resilience={"rate_limit": {"requests_per_second": 0.2,
                                                         "burst": 3}})
    statuses = [(await client.get("/v1/storeden/chats", headers=AUTH)).status
                for client in (a, b, a, b)]
    assert statuses == [200, 200, 200, 429]


async def test_breakers_are_per_replica(two_replicas, emulators):
    a, b = await two_replicas(resilience={"retry": {"attempts": 1},
                                          "breaker": {"consecutive_failures": 2}})
    emulators.apps["hapihub"][FAULTS].add("status", status=500, times=2)
    for _ in range(2):
        assert (await a.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 502
    assert (await a.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 503
    assert (await b.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 200
    assert len(recorded(emulators, "hapihub")) == 3


async def test_only_the_claimer_releases_a_pending_record(redis_url):
    client = redis.asyncio.from_url(redis_url)
    try:
        keys = RedisKeyStore(client)
        assert await keys.claim("c\nk", Record("fp", "mine"), 30) is None
        held = await keys.claim("c\nk", Record("fp", "theirs"), 30)
        assert held is not None and held.token == "mine" and held.status is None
        await keys.release("c\nk", "theirs")
        assert (await keys.claim("c\nk", Record("fp", "x"), 30)).token == "mine"
        await keys.release("c\nk", "mine")
        assert await keys.claim("c\nk", Record("fp", "x"), 30) is None
        await keys.save("c\nk", Record("fp", "x", 201, {}, ""), 30)
        await keys.release("c\nk", "x")  # a kept answer is never released
        assert (await keys.claim("c\nk", Record("fp", "y"), 30)).status == 201
    finally:
        await client.aclose()
