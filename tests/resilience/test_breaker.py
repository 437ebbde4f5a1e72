"""The circuit breaker: unit tables on a fake clock, then over HTTP against an
emulator that fails: open answers 503 circuit-open fast without calling upstream."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config.model import BreakerSettings
from gateway.emulators import FAULTS
from gateway.resilience.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from tests.conftest import AUTH, recorded
from tests.resilience.conftest import sample
from tests.resilience.test_deadline import FakeClock

SETTINGS = BreakerSettings(consecutive_failures=3, failure_ratio=0.5, window=10, min_calls=6,
                           cooldown_seconds=10)


def breaker(clock=None):
    changes = []
    b = CircuitBreaker("up", clock or FakeClock(), lambda name, state: changes.append(state))
    return b, changes


def run(b, outcomes):
    for failed in outcomes:
        assert b.admit(SETTINGS)
        b.record(failed, SETTINGS)


@pytest.mark.parametrize("outcomes,state", [
    ([True, True], CLOSED),
    ([True, True, True], OPEN),
    ([True, True, False, True, True], CLOSED),  # a success resets the consecutive count
    ([True, False, True, False, True, False], OPEN),  # 3 of 6: the ratio
    ([True, False, False, True, False, False], CLOSED),  # 2 of 6 < 0.5
    ([True, False, True, False, True], CLOSED),  # ratio only once min_calls were made
], ids=["two", "three-in-a-row", "reset", "ratio", "under-ratio", "under-min-calls"])
def test_when_it_opens(outcomes, state):
    b, _ = breaker()
    run(b, outcomes)
    assert b.state == state


def test_open_refuses_then_one_probe_then_closes():
    clock = FakeClock()
    b, changes = breaker(clock)
    run(b, [True] * 3)
    assert not b.admit(SETTINGS)
    assert b.retry_after(SETTINGS) == 10
    clock.now += 10
    assert b.admit(SETTINGS) and b.state == HALF_OPEN  # the probe
    assert not b.admit(SETTINGS)  # only one probe at a time
    b.record(False, SETTINGS)
    assert b.state == CLOSED and b.admit(SETTINGS)
    assert changes == [OPEN, HALF_OPEN, CLOSED]


def test_a_failed_probe_opens_again_for_a_full_cooldown():
    clock = FakeClock()
    b, changes = breaker(clock)
    run(b, [True] * 3)
    clock.now += 10
    assert b.admit(SETTINGS)
    b.record(True, SETTINGS)
    assert b.state == OPEN and not b.admit(SETTINGS)
    assert b.retry_after(SETTINGS) == 10
    assert changes == [OPEN, HALF_OPEN, OPEN]


def test_a_probe_without_verdict_lets_the_next_one_go():
    clock = FakeClock()
    b, _ = breaker(clock)
    run(b, [True] * 3)
    clock.now += 10
    assert b.admit(SETTINGS)
    b.release()
    assert b.admit(SETTINGS)


BREAKER = {"retry": {"attempts": 1},
           "breaker": {"consecutive_failures": 3, "cooldown_seconds": 0.5}}


async def test_open_circuit_answers_503_without_calling_the_upstream(make_gateway, emulators):
    gateway = await make_gateway(resilience=BREAKER)
    emulators.apps["hapihub"][FAULTS].add("status", status=500, times=3)
    for _ in range(3):
        assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 502
    response = await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)
    body = await response.json()
    assert response.status == 503 and body["type"] == "/problems/circuit-open", body
    assert response.headers["Retry-After"] == "1"
    assert len(recorded(emulators, "hapihub")) == 3  # the fourth never left the gateway
    text = await (await gateway.get("/metrics")).text()
    assert sample(text, "chat_gateway_circuit_breaker_state", upstream="hapihub") == 2
    assert sample(text, "chat_gateway_circuit_breaker_state", upstream="storeden") == 0
    # other upstreams are not affected
    assert (await gateway.get("/v1/storeden/chats", headers=AUTH)).status == 200

    await asyncio.sleep(0.6)  # the cool-down passes; the next call is the probe
    assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 200
    text = await (await gateway.get("/metrics")).text()
    assert sample(text, "chat_gateway_circuit_breaker_state", upstream="hapihub") == 0


async def test_client_errors_do_not_open_it(make_gateway, emulators):
    gateway = await make_gateway(resilience=BREAKER)
    emulators.apps["hapihub"][FAULTS].add("status", status=404, times=5)
    for _ in range(5):
        assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 404
    assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 200


async def test_timeouts_open_it(make_gateway, emulators):
    gateway = await make_gateway({"GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0.2"},
                                 resilience={**BREAKER, "deadline_seconds": 1})
    emulators.apps["hapihub"][FAULTS].add("delay", delay=1, times=3)
    for _ in range(3):
        assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 504
    response = await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)
    assert response.status == 503


@given(st.lists(st.booleans(), max_size=60), st.integers(2, 6), st.integers(1, 12),
       st.integers(1, 12), st.sampled_from([0.2, 0.5, 0.75, 1.0]))
def test_it_opens_exactly_when_the_rules_say(outcomes, consecutive, window, min_calls, ratio):
    """Against the rules written out plainly over a list: the last `window` outcomes, the
    failures among them, the run of failures; a probe that succeeds starts afresh."""
    settings = BreakerSettings(consecutive_failures=consecutive, failure_ratio=ratio,
                               window=window, min_calls=min_calls, cooldown_seconds=10)
    clock = FakeClock()
    b, _ = breaker(clock)
    seen: list[bool] = []
    for failed in outcomes:
        if b.state == OPEN:  # cool down, then a successful probe closes it
            clock.now += 10
            assert b.admit(settings) and b.state == HALF_OPEN
            b.record(False, settings)
            seen = []
        assert b.admit(settings)
        b.record(failed, settings)
        seen.append(failed)
        last = seen[-window:]
        run_ = len(seen) - len("".join("F" if f else "S" for f in seen).rstrip("F"))
        opens = run_ >= consecutive or (len(last) >= min_calls
                                        and sum(last) / len(last) >= ratio)
        assert b.state == (OPEN if opens else CLOSED), (seen, b.state)
