"""A bounded load test: 400 sends, 16 at a time, ~10% of upstream sends faulted (5xx,
dropped connections, and a delay past the timeout, after which the upstream still
stores the message), clients retrying with the same Idempotency-Key.

Holds: no 500 ever; every send a client was told succeeded is stored exactly once; no
send is stored twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from gateway.emulators import FAULTS
from tests.conftest import AUTH, store

SENDS, CONCURRENCY, CLIENT_TRIES = 400, 16, 4
PATH = "/v1/hapihub/chats/room-001/messages"
FAULT_KINDS = [{"kind": "status", "status": 500}, {"kind": "status", "status": 503},
               {"kind": "drop"}, {"kind": "delay", "delay": 0.8}]


async def test_faulted_sends_with_retrying_clients_are_stored_exactly_once(make_gateway,
                                                                          emulators):
    gateway = await make_gateway(
        {"GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0.4"},
        resilience={"deadline_seconds": 1.5, "retry": {"attempts": 3},
                    "breaker": {"consecutive_failures": 50, "failure_ratio": 0.9}})
    faults = emulators.apps["hapihub"][FAULTS]
    rng = random.Random(7)
    statuses: Counter[int] = Counter()
    told_ok: set[str] = set()
    queue = iter(range(SENDS))

    async def client() -> None:
        for number in queue:
            text = f"load-{number}"
            if rng.random() < 0.10:  # this send's upstream call (or a neighbour's) fails
                faults.add(path="/chat-messages", **rng.choice(FAULT_KINDS))
            for attempt in range(CLIENT_TRIES):
                response = await gateway.post(PATH, json={"text": text},
                                              headers={**AUTH, "Idempotency-Key": f'"{text}"'})
                await response.read()
                statuses[response.status] += 1
                if response.status == 201:
                    told_ok.add(text)
                    break
                if response.status not in (409, 429, 502, 503, 504):
                    break
                await asyncio.sleep(0.05 * (attempt + 1))

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    await asyncio.sleep(1.0)  # delayed sends still land upstream after their timeout
    stored = Counter(m.text for m in store(emulators, "hapihub").find(room="room-001",
                                                                       descending=False)
                     if m.text and m.text.startswith("load-"))
    assert statuses[500] == 0, statuses
    assert {t for t in told_ok if stored[t] != 1} == set()
    assert {t: n for t, n in stored.items() if n > 1} == {}
    assert len(told_ok) >= SENDS * 0.8, statuses  # the faults hit ~10%, not everything
    assert statuses[504] and statuses[502] and statuses[503], statuses  # the faults happened
    assert set(stored) - told_ok, "no timed-out send landed late: the test proved nothing"
    print(dict(statuses), len(told_ok), "told ok;", len(set(stored) - told_ok), "stored late")
