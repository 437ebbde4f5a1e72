"""Metrics after real traffic: exact series deltas, buckets, promtool, label hygiene,
bounded cardinality.

Every test drives the gateway over HTTP against the emulators (faults injected there),
scrapes `/metrics`, parses it with prometheus_client's own parser and compares the
samples before and after, so an assertion names the exact series that moved and by
how much.
"""

from __future__ import annotations

import asyncio
import base64
import os
import platform
import random
import re
import shutil
import string
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import __version__
from gateway.canonical import OPERATIONS
from gateway.emulators import EMULATORS, FAULTS
from gateway.emulators.github import DEMO_TOKEN as GITHUB_TOKEN
from gateway.emulators.hapihub import DEMO_TOKEN as HAPIHUB_TOKEN
from gateway.emulators.slack import DEMO_TOKEN as SLACK_TOKEN
from gateway.emulators.smartsender import DEMO_TOKEN as SMARTSENDER_TOKEN
from gateway.emulators.spurtcommerce import DEMO_TOKEN as SPURTCOMMERCE_TOKEN
from gateway.emulators.storeden import DEMO_EXCHANGE, DEMO_KEY
from gateway.emulators.superoffice import DEMO_AUTH
from gateway.errors import CURSOR_REASONS, MAPPING_STAGES, InvalidCursor, MappingError
from gateway.metrics import CALL_BUCKETS, LATENCY_BUCKETS
from gateway.server import create_app
from gateway.state import STATE
from tests.conftest import API_KEY, AUTH, ROUTES, SECRET, recorded

Series = tuple[str, frozenset[tuple[str, str]]]
UPSTREAM_SECRETS = (DEMO_KEY, DEMO_EXCHANGE, SMARTSENDER_TOKEN, SPURTCOMMERCE_TOKEN,
                    HAPIHUB_TOKEN, DEMO_AUTH, SLACK_TOKEN, GITHUB_TOKEN)


# --- helpers shared with test_prometheus_live.py and test_workers.py ----------------

def parse(text: str) -> dict[Series, float]:
    """Every sample of an exposition, keyed by name and labels."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def series(name: str, **labels: str) -> Series:
    return name, frozenset(labels.items())


def delta(before: dict[Series, float], after: dict[Series, float],
          keep: Callable[[str], bool] = lambda name: True) -> dict[Series, float]:
    """The samples whose value changed (new series count from 0)."""
    return {key: after[key] - before.get(key, 0.0) for key in after
            if keep(key[0]) and after[key] != before.get(key, 0.0)}


def require(binary: str) -> str:
    """The binary's path; without it fail when $CI is set, else skip."""
    path = shutil.which(binary)
    if path is None:
        message = (f"{binary} is not on PATH (apt-get install -y --no-install-recommends "
                   "prometheus)")
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(message + "; CI is set, so this is an error")
        pytest.skip(message)
    return path


async def scrape(client) -> dict[Series, float]:
    return parse(await scrape_text(client))


async def scrape_text(client) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    return await response.text()


def label_values(samples: dict[Series, float]) -> set[str]:
    return {value for _, labels in samples for _, value in labels}


_UPSTREAMS = set(EMULATORS)  # every route the shipped routes.yaml declares has an emulator
VOCABULARY: dict[str, Callable[[str], bool]] = {
    "upstream": lambda v: v in _UPSTREAMS | {"unknown"},
    "operation": lambda v: v in set(OPERATIONS) | {"unmatched", "list_upstreams"},
    "method": lambda v: v in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                              "TRACE", "CONNECT", "other"},
    "code": lambda v: v == "none" or re.fullmatch(r"[1-5]\d\d", v) is not None,
    "code_class": lambda v: re.fullmatch(r"[1-5]xx", v) is not None,
    "outcome": lambda v: v in {"ok", "http_error", "envelope_error", "too_large", "timeout",
                               "connect_error", "decode_error", "rejected", "cancelled"},
    "stage": lambda v: v in {"decode", "map"},
    "reason": lambda v: v in {"malformed", "unknown_key", "bad_signature", "expired",
                              "mismatch",  # cursors; then retries, then refusals
                              "timeout", "connect_error", "http_5xx", "rate_limited",
                              "keepalive", "overloaded", "draining"},
    "result": lambda v: v in {"success", "failure",  # config loads; then idempotency
                              "new", "replayed", "in_flight", "mismatch", "released"},
    "le": lambda v: v == "+Inf" or float(v) in (*LATENCY_BUCKETS, *CALL_BUCKETS),
    "sha256": lambda v: re.fullmatch(r"[0-9a-f]{64}", v) is not None,
    "version": lambda v: v == __version__,
    "python_version": lambda v: v == platform.python_version(),
}


def unbounded_labels(samples: dict[Series, float]) -> set[tuple[str, str]]:
    """(label, value) pairs outside the finite vocabulary the gateway may use."""
    return {(key, value) for _, labels in samples for key, value in labels
            if key not in VOCABULARY or not VOCABULARY[key](value)}


def leaked(values: set[str], tokens: set[str]) -> set[str]:
    """Tokens found in label values: contained in one (long tokens) or equal (short)."""
    return {t for t in tokens if any(t in v if len(t) >= 8 else t == v for v in values)}


# --- fixtures ---------------------------------------------------------------------

@pytest.fixture
async def fast_gateway(aiohttp_client, gateway_env, registry, clock):
    # 1 s: short enough for the timeout case, long enough that the ordinary calls of
    # fault_traffic (a 75-message walk) never hit it on a loaded machine
    env = {**gateway_env, "GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "1"}
    return await aiohttp_client(create_app(ROUTES, env, registry=registry, clock=clock))


MARKER = "marker-text-5f1c0e7d2b"


async def fault_traffic(gateway, emulators) -> None:
    """A timeout, a 5xx, a malformed body, a bad cursor, a paginated call, a send."""
    emulators.apps["smartsender"][FAULTS].add("delay", delay=3.0)
    assert (await gateway.get("/v1/smartsender/chats/7001", headers=AUTH)).status == 504
    emulators.apps["superoffice"][FAULTS].add("status", status=500, body=b'{"Error": true}')
    assert (await gateway.get("/v1/superoffice/chats/341", headers=AUTH)).status == 502
    emulators.apps["storeden"][FAULTS].add("malformed")
    assert (await gateway.get("/v1/storeden/chats/49077/messages", headers=AUTH)).status == 502
    assert (await gateway.get("/v1/smartsender/chats?cursor=not-a-cursor",
                              headers=AUTH)).status == 400
    assert (await gateway.get("/v1/storeden/chats/49077/messages?limit=75",
                              headers=AUTH)).status == 200
    assert (await gateway.post("/v1/storeden/chats/49077/messages", json={"text": MARKER},
                               headers=AUTH)).status == 201


# --- exact deltas -----------------------------------------------------------------

async def test_traffic_moves_exactly_the_expected_series(fast_gateway, emulators):
    before = await scrape(fast_gateway)
    storeden_calls = len(recorded(emulators, "storeden"))
    await fault_traffic(fast_gateway, emulators)
    after = await scrape(fast_gateway)

    req, up = "chat_gateway_requests_total", "chat_gateway_upstream_requests_total"
    counters = delta(before, after, lambda name: name.endswith("_total"))
    assert counters == {
        series(req, upstream="smartsender", operation="get_chat", method="GET", code="504"): 1,
        series(req, upstream="superoffice", operation="get_chat", method="GET", code="502"): 1,
        series(req, upstream="storeden", operation="list_messages", method="GET",
               code="502"): 1,
        series(req, upstream="smartsender", operation="list_chats", method="GET",
               code="400"): 1,
        series(req, upstream="storeden", operation="list_messages", method="GET",
               code="200"): 1,
        series(req, upstream="storeden", operation="send_message", method="POST",
               code="201"): 1,
        series(up, upstream="smartsender", operation="get_chat", code="none",
               outcome="timeout"): 1,
        series(up, upstream="superoffice", operation="get_chat", code="500",
               outcome="http_error"): 1,
        series(up, upstream="storeden", operation="list_messages", code="200",
               outcome="decode_error"): 1,
        series(up, upstream="storeden", operation="list_messages", code="200",
               outcome="ok"): 3,
        series(up, upstream="storeden", operation="send_message", code="200",
               outcome="ok"): 1,
        series("chat_gateway_mapping_failures_total", upstream="storeden",
               operation="list_messages", stage="decode"): 1,
        series("chat_gateway_cursor_rejections_total", reason="malformed"): 1,
    }

    # 75 messages at storeden's 30 a page: 3 upstream calls, plus 1 for the malformed one
    calls = "chat_gateway_upstream_calls_per_request"
    moved = delta(before, after, lambda name: name.startswith(calls) and "_bucket" not in name)
    assert moved == {
        series(f"{calls}_count", upstream="storeden", operation="list_messages"): 2,
        series(f"{calls}_sum", upstream="storeden", operation="list_messages"): 4,
        series(f"{calls}_count", upstream="storeden", operation="send_message"): 1,
        series(f"{calls}_sum", upstream="storeden", operation="send_message"): 1,
        series(f"{calls}_count", upstream="smartsender", operation="get_chat"): 1,
        series(f"{calls}_sum", upstream="smartsender", operation="get_chat"): 1,
        series(f"{calls}_count", upstream="superoffice", operation="get_chat"): 1,
        series(f"{calls}_sum", upstream="superoffice", operation="get_chat"): 1,
    }
    assert len(recorded(emulators, "storeden")) - storeden_calls == 3 + 1 + 1
    bucket = f"{calls}_bucket"
    labels = {"upstream": "storeden", "operation": "list_messages"}
    assert after[series(bucket, le="2.0", **labels)] - before.get(
        series(bucket, le="2.0", **labels), 0) == 1  # the malformed page
    assert after[series(bucket, le="3.0", **labels)] - before.get(
        series(bucket, le="3.0", **labels), 0) == 2

    count = "chat_gateway_request_duration_seconds_count"
    counts = delta(before, after, lambda name: name == count)
    assert sum(counts.values()) == 6
    assert counts[series(count, upstream="storeden",
                         operation="list_messages", method="GET", code_class="5xx")] == 1

    # the timed-out call took the 1 s timeout: nothing under 0.25 s, all under 5 s
    duration = "chat_gateway_upstream_request_duration_seconds_bucket"
    timeout = {"upstream": "smartsender", "operation": "get_chat", "outcome": "timeout"}
    assert after[series(duration, le="0.25", **timeout)] == 0
    assert after[series(duration, le="5.0", **timeout)] == 1
    assert after[series("chat_gateway_requests_in_flight")] == 0


async def test_in_flight_counts_a_request_while_it_runs(fast_gateway, emulators):
    gauge = series("chat_gateway_requests_in_flight")
    assert (await scrape(fast_gateway))[gauge] == 0
    emulators.apps["hapihub"][FAULTS].add("delay", delay=0.3)
    log = recorded(emulators, "hapihub")
    seen = len(log)
    slow = asyncio.create_task(fast_gateway.get("/v1/hapihub/chats", headers=AUTH))
    while len(log) == seen:
        await asyncio.sleep(0.01)
    assert (await scrape(fast_gateway))[gauge] == 1
    assert (await slow).status == 200
    assert (await scrape(fast_gateway))[gauge] == 0


async def test_refusals_before_routing_keep_bounded_labels(gateway):
    before = await scrape(gateway)
    assert (await gateway.get("/v1/storeden/chats")).status == 401
    assert (await gateway.get("/v1/no-such-upstream-4711/chats", headers=AUTH)).status == 404
    assert (await gateway.get("/v1/storeden/no/such/path", headers=AUTH)).status == 404
    assert (await gateway.delete("/v1/storeden/chats", headers=AUTH)).status == 405
    # the router refused these: a configured upstream in the path is still named, no other
    assert (await gateway.get("/v1/no-such-upstream-4711/x/y/z", headers=AUTH)).status == 404
    assert (await gateway.get("/v1", headers=AUTH)).status == 404
    assert (await gateway.get("/v1/upstreams", headers=AUTH)).status == 200
    after = await scrape(gateway)
    req = "chat_gateway_requests_total"
    assert delta(before, after, lambda name: name == req) == {
        series(req, upstream="storeden", operation="list_chats", method="GET", code="401"): 1,
        series(req, upstream="unknown", operation="list_chats", method="GET", code="404"): 1,
        series(req, upstream="storeden", operation="unmatched", method="GET", code="404"): 1,
        series(req, upstream="unknown", operation="unmatched", method="GET", code="404"): 1,
        series(req, upstream="storeden", operation="unmatched", method="DELETE", code="405"): 1,
        series(req, upstream="unknown", operation="list_upstreams", method="GET",
               code="200"): 1,
    }


async def test_an_unknown_method_is_labelled_other(aiohttp_client, gateway_env, registry,
                                                   monkeypatch):
    # llhttp refuses unknown methods with 400 before any handler runs; aiohttp's
    # pure-Python parser (no C extensions, PyPy) lets any token through as the method.
    from aiohttp import http_parser, web_protocol
    monkeypatch.setattr(web_protocol, "HttpRequestParser", http_parser.HttpRequestParserPy)
    client = await aiohttp_client(create_app(ROUTES, gateway_env, registry=registry))
    for method in ("FROBNICATE", "XQ7ZT", "FROBNICATE"):
        assert (await client.request(method, "/v1/storeden/chats", headers=AUTH)).status == 405
    samples = await scrape(client)
    assert samples[series("chat_gateway_requests_total", upstream="storeden",
                          operation="unmatched", method="other", code="405")] == 3
    assert not {"FROBNICATE", "XQ7ZT"} & label_values(samples)


# --- the exposition itself ---------------------------------------------------------

async def test_latency_histograms_have_gateway_buckets(gateway):
    assert (await gateway.get("/v1/storeden/chats", headers=AUTH)).status == 200
    samples = await scrape(gateway)
    expected = [*LATENCY_BUCKETS, float("inf")]
    for name in ("chat_gateway_request_duration_seconds_bucket",
                 "chat_gateway_upstream_request_duration_seconds_bucket"):
        bounds = sorted(float(dict(labels)["le"]) for sample, labels in samples
                        if sample == name and dict(labels).get("upstream") == "storeden")
        assert bounds == expected, name
    assert (expected[0], expected[-2]) == (0.0005, 30.0)


async def test_no_created_series_and_one_info_series_each(gateway):
    samples = await scrape(gateway)
    assert [name for name, _ in samples if name.endswith("_created")] == []
    for info in ("chat_gateway_build_info", "chat_gateway_config_info"):
        assert [value for (name, _), value in samples.items() if name == info] == [1.0]


async def test_series_that_alerts_rate_over_exist_at_zero_before_any_failure(gateway):
    """rate()/increase() cannot see a counter's first increment if it has no earlier sample."""
    samples = await scrape(gateway)
    state = gateway.app[STATE]
    for route_name, route in state.config.routes.items():
        for operation in route.operations:
            for stage in MAPPING_STAGES:
                key = series("chat_gateway_mapping_failures_total", upstream=route_name,
                             operation=operation, stage=stage)
                assert samples.get(key) == 0.0, key
    for reason in CURSOR_REASONS:
        assert samples.get(series("chat_gateway_cursor_rejections_total", reason=reason)) == 0.0
    for result in ("success", "failure"):
        assert series("chat_gateway_config_loads_total", result=result) in samples


def test_mapping_stages_and_cursor_reasons_are_closed_sets():
    with pytest.raises(ValueError):
        MappingError("x", stage="parse")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InvalidCursor("x", reason="stale")  # type: ignore[arg-type]


async def test_name_filter_serves_only_the_named_families(gateway):
    assert (await gateway.get("/v1/storeden/chats", headers=AUTH)).status == 200
    response = await gateway.get("/metrics?name[]=chat_gateway_requests_total"
                                 "&name[]=chat_gateway_requests_in_flight")
    samples = parse(await response.text())
    assert samples == {
        series("chat_gateway_requests_total", upstream="storeden", operation="list_chats",
               method="GET", code="200"): 1.0,
        series("chat_gateway_requests_in_flight"): 0.0,
    }


async def test_promtool_accepts_the_scrape_after_fault_traffic(fast_gateway, emulators):
    promtool = require("promtool")
    await fault_traffic(fast_gateway, emulators)
    text = await scrape_text(fast_gateway)
    assert "chat_gateway_upstream_requests_total" in text and 'outcome="timeout"' in text
    result = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == ""


async def test_no_label_value_carries_ids_cursors_keys_or_text(fast_gateway, emulators):
    await fault_traffic(fast_gateway, emulators)
    page = await (await fast_gateway.get("/v1/storeden/chats/49077/messages?limit=5",
                                         headers=AUTH)).json()
    cursor = page["next_cursor"]
    assert (await fast_gateway.get(f"/v1/storeden/chats/49077/messages?limit=5&cursor={cursor}",
                                   headers=AUTH)).status == 200
    chat_id, message_id = "31415926535", page["data"][0]["id"]
    await fast_gateway.get(f"/v1/smartsender/chats/{chat_id}", headers=AUTH)
    await fast_gateway.get(f"/v1/hapihub/chats/room-001/messages/{message_id}", headers=AUTH)
    await fast_gateway.get("/v1/storeden/chats",
                           headers={"Authorization": "Bearer wrong-key-271828"})
    samples = await scrape(fast_gateway)
    assert unbounded_labels(samples) == set()
    values = label_values(samples)
    tokens = {"7001", "341", "49077", chat_id, message_id, cursor, "not-a-cursor", MARKER,
              API_KEY, SECRET, "wrong-key-271828", "room-001", *UPSTREAM_SECRETS}
    assert leaked(values, tokens) == set()
    assert not [v for v in values if "/" in v], "a path became a label value"


# --- cardinality ------------------------------------------------------------------

@dataclass(frozen=True)
class Behaviour:
    """One kind of request: a fixed (upstream, operation, outcome), random ids in it."""
    name: str
    status: int
    request: Callable[[random.Random], tuple[str, str, dict, dict | None]]
    real: bool = False  # reaches an upstream


def _word(rng: random.Random, size: int = 12) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits + "-_", k=size))


def _digits(rng: random.Random) -> str:
    return str(rng.randrange(10**8, 10**12))


def _garbage_cursor(rng: random.Random) -> str:
    return _word(rng, rng.randrange(8, 60)).replace(".", "")


def behaviours(forged: Callable[[random.Random], str]) -> list[Behaviour]:
    get, post = "GET", "POST"
    cheap = [
        Behaviour(f"bad-cursor-{u}", 400,
                  lambda r, u=u: (get, f"/v1/{u}/chats?cursor={_garbage_cursor(r)}", AUTH, None))
        for u in ("storeden", "smartsender", "superoffice", "spurtcommerce", "hapihub")
    ] + [
        Behaviour("forged-cursor", 400, lambda r: (
            get, f"/v1/storeden/chats/49077/messages?cursor={forged(r)}", AUTH, None)),
        Behaviour("invalid-chat-id-get", 404, lambda r: (
            get, f"/v1/smartsender/chats/x{_word(r)}", AUTH, None)),
        Behaviour("invalid-chat-id-list", 404, lambda r: (
            get, f"/v1/superoffice/chats/x{_word(r)}/messages", AUTH, None)),
        Behaviour("limit-out-of-range", 400, lambda r: (
            get, f"/v1/hapihub/chats?limit={r.randrange(101, 10**6)}", AUTH, None)),
        Behaviour("unknown-upstream", 404, lambda r: (
            get, f"/v1/u{_word(r)}/chats/{_digits(r)}", AUTH, None)),
        Behaviour("unknown-endpoint", 404, lambda r: (
            get, f"/v1/storeden/{_word(r)}/{_digits(r)}", AUTH, None)),
        Behaviour("unknown-key", 401, lambda r: (
            get, f"/v1/storeden/chats/{_digits(r)}/messages",
            {"Authorization": f"Bearer {_word(r, 24)}"}, None)),
        Behaviour("bad-body", 400, lambda r: (
            post, f"/v1/storeden/chats/{_digits(r)}/messages", AUTH,
            {"text": _word(r), _word(r, 6): 1})),
        Behaviour("not-implemented", 501, lambda r: (
            get, f"/v1/storeden/chats/{_digits(r)}", AUTH, None)),
    ]
    real = [
        Behaviour("unknown-chat", 404, lambda r: (
            get, f"/v1/smartsender/chats/{_digits(r)}", AUTH, None), real=True),
        Behaviour("unknown-message", 404, lambda r: (
            get, f"/v1/hapihub/chats/room-00{r.randrange(1, 6)}/messages/{_word(r)}", AUTH,
            None), real=True),
        Behaviour("list-messages", 200, lambda r: (
            get, f"/v1/storeden/chats/{r.choice(['48617', '49077', '49200'])}/messages"
                 f"?limit={r.randrange(1, 101)}", AUTH, None), real=True),
        Behaviour("get-chat", 200, lambda r: (
            get, f"/v1/superoffice/chats/{r.randrange(341, 346)}", AUTH, None), real=True),
    ]
    return cheap + real


async def _run(client, rng: random.Random, chosen: list[Behaviour], batch: int = 50) -> None:
    for start in range(0, len(chosen), batch):
        requests = [b.request(rng) for b in chosen[start:start + batch]]
        responses = await asyncio.gather(*[
            client.request(method, path, headers=headers, json=body)
            for method, path, headers, body in requests])
        for behaviour, response in zip(chosen[start:start + batch], responses, strict=True):
            assert response.status == behaviour.status, (behaviour.name, await response.text())
            response.release()


def _draw(rng: random.Random, kinds: list[Behaviour], n: int) -> list[Behaviour]:
    cheap = [b for b in kinds if not b.real]
    real = [b for b in kinds if b.real]
    return [rng.choice(real if rng.random() < 0.03 else cheap) for _ in range(n)]


async def test_series_count_does_not_grow_with_traffic(gateway, emulators):
    rng = random.Random(20240501)
    page = await (await gateway.get("/v1/storeden/chats/49077/messages?limit=2",
                                    headers=AUTH)).json()
    payload = page["next_cursor"].split(".")[0]
    kinds = behaviours(lambda r: payload + "." + base64.urlsafe_b64encode(
        r.randbytes(32)).rstrip(b"=").decode())

    warm_up = kinds + _draw(rng, kinds, 100 - 1 - len(kinds))  # 1 page fetched above
    await _run(gateway, rng, warm_up)
    after_100 = await scrape(gateway)

    upstream_calls = sum(len(recorded(emulators, name)) for name in emulators.apps)
    started = time.perf_counter()
    await _run(gateway, rng, _draw(rng, kinds, 10_000))
    elapsed = time.perf_counter() - started
    upstream_calls = sum(len(recorded(emulators, name)) for name in emulators.apps) - upstream_calls
    after_10k = await scrape(gateway)

    total = sum(v for (name, _), v in after_10k.items() if name == "chat_gateway_requests_total")
    assert total == 10_100
    assert unbounded_labels(after_10k) == set()
    rejected = {dict(labels)["reason"]: value for (name, labels), value in after_10k.items()
                if name == "chat_gateway_cursor_rejections_total" and value}
    assert set(rejected) == {"malformed", "bad_signature"}
    assert len(after_10k) == len(after_100)
    assert set(after_10k) == set(after_100)
    print(f"\nseries after 100 requests: {len(after_100)}, after 10,100: {len(after_10k)};"
          f" 10,000 requests ({upstream_calls} upstream calls) took {elapsed:.1f} s")
    assert elapsed < 60
