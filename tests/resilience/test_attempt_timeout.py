"""The aiohttp timeout each attempt is sent with: the upstream's own timeouts while the
deadline is far, what is left of the deadline once it is near (the timeout objects are
made once per configured pair, so this pins what they hold)."""

from __future__ import annotations

from datetime import timezone

from prometheus_client import CollectorRegistry
from yarl import URL

from gateway.config.model import UpstreamSpec
from gateway.metrics import Metrics
from gateway.tools.offline import Answer, _BufferedResponse, _Pending
from gateway.upstream import OutboundRequest, UpstreamClient
from tests.resilience.test_deadline import FakeClock


class Recording:
    """A session answering 200 `{}` and keeping the timeout of each request."""

    closed = False

    def __init__(self) -> None:
        self.timeouts: list = []

    def request(self, method, url, *, timeout, **_):
        self.timeouts.append(timeout)

        async def answer():
            return _BufferedResponse(Answer(200, {"Content-Type": "application/json"}, b"{}"))
        return _Pending(answer)


def upstream(total: float, connect: float, name: str = "up") -> UpstreamSpec:
    return UpstreamSpec(name=name, base_url=URL("http://127.0.0.1:9/"), mapping_file="m.yaml",
                        zone=timezone.utc, connect_timeout=connect, total_timeout=total,
                        auth=None, vars={}, xml_lists=frozenset(), error_detail=None,
                        failure=None, error_rules=(), params={}, operations={})


async def test_each_attempt_gets_the_upstream_timeouts_or_what_is_left():
    clock, session = FakeClock(), Recording()
    client = UpstreamClient(session, Metrics(CollectorRegistry()), clock=clock)
    request = OutboundRequest("GET", URL("http://127.0.0.1:9/x"), {})
    slow, quick = upstream(total=8, connect=3), upstream(total=2, connect=5, name="quick")
    budget = client.budget(20)
    for spec in (slow, slow, quick, slow):
        await client.call(spec, "op", request, budget)
    assert [(t.total, t.sock_connect) for t in session.timeouts] == [(8, 3), (8, 3), (2, 2),
                                                                    (8, 3)]
    clock.now += 15  # 5 s left: less than the upstream's 8
    await client.call(slow, "op", request, budget)
    clock.now += 3  # 2 s left: less than its connect timeout too
    await client.call(slow, "op", request, budget)
    assert [(t.total, t.sock_connect) for t in session.timeouts[-2:]] == [(5, 3), (2, 2)]
