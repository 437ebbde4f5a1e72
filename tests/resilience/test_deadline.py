"""The end-to-end deadline: a paginated walk or a two-step send never outlives it, and
each upstream call gets only the time that is left. Real HTTP to the emulators; the
emulators' delay fault makes the upstream slow."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.config.model import Resilience
from gateway.emulators import FAULTS
from gateway.errors import UpstreamTimeout
from gateway.resilience.chain import UpstreamCall
from gateway.resilience.deadline import Budget, DeadlineLayer
from tests.conftest import AUTH, recorded


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_slow_pages_stop_at_the_deadline_not_after_every_page(make_gateway, emulators):
    """Four pages of 30 at 1.5 s each took 6 s, all 200; with a 2 s deadline the walk
    stops during the second page with 504, and the third page is never asked for."""
    gateway = await make_gateway({"GATEWAY_DEADLINE_SECONDS": "2"})
    emulators.apps["storeden"][FAULTS].add("delay", delay=1.5, times=4, path="chat.json")
    before = len(recorded(emulators, "storeden"))
    response = await gateway.get("/v1/storeden/chats/49077/messages?limit=100", headers=AUTH)
    body = await response.json()
    assert response.status == 504, body
    assert body["type"] == "/problems/upstream-timeout"
    assert "deadline of 2 s" in body["detail"]
    assert len(recorded(emulators, "storeden")) - before == 2


async def test_the_second_step_of_a_send_gets_only_the_time_left(make_gateway, emulators):
    """Smartsender's send reads the chat (1.2 s here), then posts (0.9 s): each alone is
    well inside the 5 s upstream timeout, but together past the 1.6 s deadline."""
    gateway = await make_gateway({"GATEWAY_DEADLINE_SECONDS": "1.6"})
    faults = emulators.apps["smartsender"][FAULTS]
    faults.add("delay", delay=1.2, path=r"^/v1/chats/7001$")
    faults.add("delay", delay=0.9, path=r"/send$")
    response = await gateway.post("/v1/smartsender/chats/7001/messages", json={"text": "hi"},
                                  headers=AUTH)
    assert response.status == 504, await response.text()
    sent = [r for r in recorded(emulators, "smartsender") if r.method == "POST"]
    assert len(sent) == 1  # attempted with the time left, and never retried (a POST)


async def test_without_pressure_the_same_send_succeeds(make_gateway, emulators):
    gateway = await make_gateway({"GATEWAY_DEADLINE_SECONDS": "1.6"})
    response = await gateway.post("/v1/smartsender/chats/7001/messages", json={"text": "hi"},
                                  headers=AUTH)
    assert response.status == 201


async def test_a_spent_budget_refuses_the_call_without_making_it():
    clock = FakeClock()
    budget = Budget.start(1.0, clock)
    called = []

    async def inner(call):
        called.append(call)
        return "answer"

    layer = DeadlineLayer(inner)
    call = UpstreamCall(upstream=_Upstream(), operation="get_chat", request=None,  # type: ignore[arg-type]
                        budget=budget, policy=Resilience())
    assert await layer(call) == "answer"
    clock.now += 1.0
    with pytest.raises(UpstreamTimeout, match="deadline of 1 s"):
        await layer(call)
    assert len(called) == 1


class _Upstream:
    name = "up"
    total_timeout = 5.0


async def test_a_bound_ends_what_runs_inside_once_the_budget_is_spent():
    budget = Budget.start(0.2, time.monotonic)
    with pytest.raises(UpstreamTimeout, match="deadline of 0.2 s ran out waiting for up"):
        async with budget.bound("up"):
            assert budget.bounded
            await asyncio.sleep(5)
    assert not budget.bounded


async def test_a_timeout_that_is_not_the_bounds_passes_through_it():
    budget = Budget.start(30, time.monotonic)
    with pytest.raises(TimeoutError) as raised:
        async with budget.bound("up"):
            raise TimeoutError("someone else's")
    assert str(raised.value) == "someone else's"
    assert not budget.bounded


async def test_inside_a_bound_a_call_arms_no_timer_of_its_own():
    """The request's one timer decides. The budget's clock says 50 ms are left when the
    call starts, but the bound, armed at 10 s, has not run out: a layer arming its own
    timer for what is left would end the 300 ms call."""
    clock = FakeClock()
    budget = Budget.start(10.0, clock)

    async def inner(call):
        await asyncio.sleep(0.3)
        return "answer"

    layer = DeadlineLayer(inner)
    call = UpstreamCall(upstream=_Upstream(), operation="get_chat", request=None,  # type: ignore[arg-type]
                        budget=budget, policy=Resilience())
    async with budget.bound("up"):
        clock.now += 9.95
        assert await layer(call) == "answer"
    with pytest.raises(UpstreamTimeout, match="deadline of 10 s"):  # unbounded: its own timer
        await layer(call)
