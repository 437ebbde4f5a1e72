"""Per-consumer rate limits (token bucket, IETF RateLimit headers) and load shedding."""

from __future__ import annotations

import asyncio

from gateway.config.model import RateLimit
from gateway.emulators import FAULTS
from gateway.resilience.ratelimit import Decision, MemoryLimiter, decide, headers
from tests.conftest import API_KEY, AUTH, recorded
from tests.resilience.conftest import sample
from tests.resilience.test_deadline import FakeClock

LIMIT = RateLimit(requests_per_second=2, burst=3)


def test_the_bucket_refills_at_the_rate_up_to_the_burst():
    assert decide(3, 0, LIMIT) == (True, 2)
    assert decide(0.5, 0, LIMIT) == (False, 0.5)
    assert decide(0.5, 0.25, LIMIT) == (True, 0)  # 0.5 + 0.25 s × 2/s = 1 token
    assert decide(0, 100, LIMIT) == (True, 2)  # never above the burst


async def test_memory_limiter_per_consumer():
    clock = FakeClock()
    limiter = MemoryLimiter(clock)
    results = [(await limiter.take("a", LIMIT)).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    assert (await limiter.take("b", LIMIT)).allowed  # another consumer's bucket
    clock.now += 0.5
    assert (await limiter.take("a", LIMIT)).allowed


def test_headers_follow_the_draft():
    assert headers(Decision(True, 2.0), LIMIT) == {
        "RateLimit-Policy": '"burst";q=3;w=2', "RateLimit": '"burst";r=2;t=1'}


async def test_429_with_retry_after_and_ratelimit_headers(make_gateway, emulators):
    gateway = await make_gateway(resilience={"rate_limit": {"requests_per_second": 0.5,
                                                            "burst": 2}})
    answers = [await gateway.get("/v1/storeden/chats", headers=AUTH) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"burst";q=2;w=4'
    assert answers[0].headers["RateLimit"] == '"burst";r=1;t=2'
    limited = answers[2]
    body = await limited.json()
    assert body["type"] == "/problems/rate-limited"
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["RateLimit"].startswith('"burst";r=0;')
    assert len(recorded(emulators, "storeden")) == 2  # the third never went upstream
    text = await (await gateway.get("/metrics")).text()
    assert sample(text, "chat_gateway_requests_rejected_total", reason="rate_limited") == 1


async def test_a_consumer_can_have_its_own_limit_or_none(make_gateway, emulators):
    gateway = await make_gateway(
        resilience={"rate_limit": {"requests_per_second": 0.5, "burst": 1}},
        consumers=[{"name": "one", "keys": API_KEY, "upstreams": "*", "rate_limit": "none"},
                   {"name": "two", "keys": "second-key-0123456789", "upstreams": "*"}])
    other = {"Authorization": "Bearer second-key-0123456789"}
    assert all([(await gateway.get("/v1/storeden/chats", headers=AUTH)).status == 200
                for _ in range(3)])
    assert "RateLimit" not in (await gateway.get("/v1/storeden/chats", headers=AUTH)).headers
    assert [(await gateway.get("/v1/storeden/chats", headers=other)).status
            for _ in range(2)] == [200, 429]


async def test_beyond_max_in_flight_answers_503_at_once(make_gateway, emulators):
    gateway = await make_gateway(resilience={"max_in_flight": 1})
    emulators.apps["hapihub"][FAULTS].add("delay", delay=1.0)
    slow = asyncio.create_task(gateway.get("/v1/hapihub/chats/room-001", headers=AUTH))
    while not recorded(emulators, "hapihub"):
        await asyncio.sleep(0.01)
    response = await gateway.get("/v1/hapihub/chats/room-002", headers=AUTH)
    body = await response.json()
    assert response.status == 503 and body["type"] == "/problems/overloaded"
    assert response.headers["Retry-After"] == "1"
    assert len(recorded(emulators, "hapihub")) == 1
    assert (await slow).status == 200
    assert (await gateway.get("/v1/hapihub/chats/room-002", headers=AUTH)).status == 200
    assert (await gateway.get("/healthz")).status == 200  # system endpoints are not counted
