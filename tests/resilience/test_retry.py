"""Retries: idempotent calls only, jittered exponential backoff inside the deadline,
Retry-After honoured, aiohttp's own silent re-send counted; a DEBUG line per attempt."""

from __future__ import annotations

import email.utils
import json
import logging

import pytest

from gateway.config.model import Resilience, RetrySettings
from gateway.emulators import FAULTS
from gateway.errors import UpstreamError, UpstreamUnavailable
from gateway.metrics import Metrics
from gateway.resilience.chain import UpstreamCall
from gateway.resilience.deadline import Budget
from gateway.resilience.retry import RetryLayer
from gateway.upstream import OutboundRequest
from prometheus_client import CollectorRegistry
from tests.conftest import AUTH, recorded
from tests.resilience.conftest import sample
from tests.resilience.test_deadline import FakeClock, _Upstream

RETRYING = {"GATEWAY_UPSTREAM_ATTEMPTS": "3"}


async def metrics_text(gateway) -> str:
    return await (await gateway.get("/metrics")).text()


async def test_a_get_is_retried_after_a_5xx_and_succeeds(make_gateway, emulators):
    gateway = await make_gateway(RETRYING)
    emulators.apps["hapihub"][FAULTS].add("status", status=503, path="/chat-rooms/room-001")
    response = await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)
    assert response.status == 200
    assert [r.path for r in recorded(emulators, "hapihub")] == ["/chat-rooms/room-001"] * 2
    text = await metrics_text(gateway)
    assert sample(text, "chat_gateway_upstream_retries_total", upstream="hapihub",
                  operation="get_chat", reason="http_5xx") == 1


async def test_a_timeout_is_retried(make_gateway, emulators):
    gateway = await make_gateway({**RETRYING, "GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0.5",
                                  "GATEWAY_DEADLINE_SECONDS": "5"})
    emulators.apps["hapihub"][FAULTS].add("delay", delay=1.5, path="/chat-rooms/room-001")
    assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 200
    assert sample(await metrics_text(gateway), "chat_gateway_upstream_retries_total",
                  upstream="hapihub", reason="timeout") == 1


async def test_a_put_is_retried(make_gateway, emulators):
    gateway = await make_gateway(RETRYING)
    emulators.apps["smartsender"][FAULTS].add("status", status=502, path="/read$")
    assert (await gateway.post("/v1/smartsender/chats/7001/read", headers=AUTH)).status == 204
    assert [r.method for r in recorded(emulators, "smartsender")] == ["PUT", "PUT"]


async def test_a_send_is_never_retried(make_gateway, emulators):
    gateway = await make_gateway(RETRYING)
    emulators.apps["storeden"][FAULTS].add("status", status=503, path="chat.json")
    response = await gateway.post("/v1/storeden/chats/49077/messages", json={"text": "once"},
                                  headers=AUTH)
    assert response.status == 503
    assert [r.method for r in recorded(emulators, "storeden")] == ["POST"]


@pytest.mark.parametrize("status", [400, 404, 409], ids=str)
async def test_a_client_error_is_not_retried(make_gateway, emulators, status):
    gateway = await make_gateway(RETRYING)
    emulators.apps["hapihub"][FAULTS].add("status", status=status, path="/chat-rooms/room-001",
                                          times=3)
    assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status != 200
    assert len(recorded(emulators, "hapihub")) == 1


async def test_aiohttp_resend_on_a_dropped_keepalive_connection_is_counted(make_gateway,
                                                                           emulators):
    """aiohttp re-sends an idempotent request once when a reused connection was closed;
    the gateway cannot turn that off (no public knob), so it counts it."""
    gateway = await make_gateway()  # one gateway attempt: any second send is aiohttp's
    assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 200
    emulators.apps["hapihub"][FAULTS].add("drop", path="/chat-rooms/room-001")
    assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 200
    assert len(recorded(emulators, "hapihub")) == 3
    assert sample(await metrics_text(gateway), "chat_gateway_upstream_retries_total",
                  upstream="hapihub", operation="get_chat", reason="keepalive") == 1


async def test_debug_line_per_attempt(make_gateway, emulators, caplog):
    gateway = await make_gateway(RETRYING)
    emulators.apps["hapihub"][FAULTS].add("status", status=500, path="/chat-messages")
    with caplog.at_level(logging.DEBUG, logger="chat_gateway.upstream"):
        response = await gateway.get("/v1/hapihub/chats/room-001/messages?limit=2", headers=AUTH)
    assert response.status == 200
    lines = [r for r in caplog.records if r.msg == "upstream attempt"]
    assert [(r.attempt, r.status, r.method) for r in lines] == [(1, 500, "GET"), (2, 200, "GET")]
    assert all(r.url.endswith("/chat-messages") and "?" not in r.url for r in lines)
    assert all(r.duration_ms >= 0 and r.request_id == response.headers["X-Request-ID"]
               for r in lines)
    from gateway.logs import JsonFormatter
    assert json.loads(JsonFormatter().format(lines[0]))["attempt"] == 1


# --- the layer alone: backoff values, Retry-After, deadline --------------------------

def _call(method="GET", attempts=4, seconds=100.0, clock=None):
    policy = Resilience(retry=RetrySettings(attempts=attempts, backoff_seconds=0.1,
                                            max_backoff_seconds=0.3))
    return UpstreamCall(upstream=_Upstream(), operation="get_chat",  # type: ignore[arg-type]
                        request=OutboundRequest(method, None, {}),  # type: ignore[arg-type]
                        budget=Budget.start(seconds, clock or FakeClock()), policy=policy)


def _failing(status=503, headers=None, fail_times=99):
    calls = []

    async def inner(call):
        calls.append(call.attempt)
        if len(calls) <= fail_times:
            call.status, call.headers, call.outcome = status, headers or {}, "http_error"
            raise UpstreamUnavailable("down")
        call.status, call.outcome = 200, "ok"
        return "ok"
    return inner, calls


async def test_backoff_is_full_jitter_doubling_to_the_cap():
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    inner, calls = _failing()
    layer = RetryLayer(inner, Metrics(CollectorRegistry()), random=lambda: 0.5, sleep=sleep)
    with pytest.raises(UpstreamUnavailable):
        await layer(_call(attempts=4))
    assert calls == [1, 2, 3, 4]
    assert slept == [0.05, 0.1, 0.15]  # 0.5 × min(0.3, 0.1 × 2^n)


async def test_retry_after_is_honoured_and_a_long_one_is_not_waited_for():
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    inner, calls = _failing(headers={"Retry-After": "2"}, fail_times=1)
    layer = RetryLayer(inner, Metrics(CollectorRegistry()), random=lambda: 0.5, sleep=sleep)
    assert await layer(_call()) == "ok"
    assert slept == [2.0]
    inner, calls = _failing(headers={"Retry-After": "2"}, fail_times=1)
    layer = RetryLayer(inner, Metrics(CollectorRegistry()), random=lambda: 0.5, sleep=sleep)
    with pytest.raises(UpstreamUnavailable):
        await layer(_call(seconds=1.5))  # 2 s does not fit in the 1.5 s left
    assert calls == [1]


async def test_retry_after_as_an_http_date_is_waited_for_not_replaced_by_backoff():
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 3, usegmt=True)
    inner, calls = _failing(headers={"Retry-After": date}, fail_times=1)
    layer = RetryLayer(inner, Metrics(CollectorRegistry()), random=lambda: 0.5, sleep=sleep,
                       now=lambda: now)
    assert await layer(_call()) == "ok"
    assert slept == [3.0]  # the date, 3 s ahead on the wall clock; backoff would be 0.05
    inner, calls = _failing(headers={"Retry-After": date}, fail_times=1)
    layer = RetryLayer(inner, Metrics(CollectorRegistry()), random=lambda: 0.5, sleep=sleep,
                       now=lambda: now)
    with pytest.raises(UpstreamUnavailable):
        await layer(_call(seconds=2.5))  # 3 s does not fit in the 2.5 s left
    assert calls == [1]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_unsafe_methods_are_not_retried_unless_declared(method):
    inner, calls = _failing()
    layer = RetryLayer(inner, Metrics(CollectorRegistry()), random=lambda: 0.0,
                       sleep=_no_sleep)
    with pytest.raises(UpstreamUnavailable):
        await layer(_call(method))
    assert calls == [1]
    inner, calls = _failing(fail_times=1)
    call = _call(method)
    call.request.idempotent = True
    assert await RetryLayer(inner, Metrics(CollectorRegistry()), random=lambda: 0.0,
                            sleep=_no_sleep)(call) == "ok"
    assert calls == [1, 2]


async def test_a_decode_error_is_not_retried():
    calls = []

    async def inner(call):
        calls.append(1)
        call.status, call.outcome = 200, "decode_error"
        raise UpstreamError("unreadable")

    with pytest.raises(UpstreamError):
        await RetryLayer(inner, Metrics(CollectorRegistry()), sleep=_no_sleep)(_call())
    assert calls == [1]


async def _no_sleep(seconds):
    return None
