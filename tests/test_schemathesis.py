"""schemathesis against the gateway's own /openapi.json: generated requests (bounded
examples, positive data, every check) to a real `chat-gateway demo` (the gateway in front
of the five emulators, one subprocess on loopback). No 500s; every answer conforms to the
document; every request the document allows is accepted (2xx, or 404 for an id the
upstream cannot have, or another status schemathesis counts as acceptance)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from gateway.config.loader import load_config
from tests.conftest import ROOT
from tests.test_config import DEMO_ENV, ROUTES
from tests.test_workers import free_port

DEMO_KEY = "demo-api-key-0123456789"


def without_cursor(case):
    """A `cursor` is the gateway's own signed `next_cursor`: any other string, however
    schema-valid, is rightly a 400 invalid-cursor (tested in test_cursors.py). Generated
    ones are dropped so positive_data_acceptance judges the rest of the request."""
    if case.query:
        case.query.pop("cursor", None)
    return case


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("demo") / "stderr.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--port", str(port)],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr,
                                   env={**os.environ, "GATEWAY_LOG_LEVEL": "WARNING"},
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(15)
        if process.poll() is None:
            process.kill()


@pytest.fixture(scope="module")
def api_schema(demo_url):
    return schemathesis.openapi.from_url(f"{demo_url}/openapi.json")


def takes(config):
    """Whether an upstream can do what a case asks beyond the operation itself: the list
    filters its mapping declares, as many media items as its `max_media`. The rest is a
    400 naming the field (tested in test_server.py); the demo serves this routes.yaml."""
    def check(case) -> bool:
        route = config.routes[case.path_parameters["upstream"]]
        spec = route.upstream.operations[case.operation.definition.raw["operationId"]]
        filters = {"q", "state", "unread", "assignee"} & set(case.query or {})
        media = (case.body or {}).get("media", ()) if isinstance(case.body, dict) else ()
        return filters <= set(spec.filters) and len(media) <= spec.max_media
    return check


def supported(demo_url) -> dict[str, set[str]]:
    """Operation -> the routes that serve it (the others answer 501, as documented)."""
    request = urllib.request.Request(f"{demo_url}/v1/upstreams",
                                     headers={"Authorization": f"Bearer {DEMO_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        listing = json.load(response)["data"]
    out: dict[str, set[str]] = {}
    for route in listing:
        for name in route["operations"]:
            out.setdefault(name, set()).add(route["name"])
    return out


def test_the_gateway_conforms_to_its_own_openapi(api_schema, demo_url):
    failures = []
    serving = supported(demo_url)
    config = load_config(ROUTES, DEMO_ENV)
    for result in api_schema.get_all_operations():
        operation = result.ok()
        routes = serving.get(operation.definition.raw.get("operationId"))
        strategy = operation.as_strategy().map(without_cursor)
        if routes is not None:  # a canonical operation: only upstreams that serve it
            strategy = strategy.filter(lambda case, routes=routes:
                                       case.path_parameters.get("upstream") in routes)
            strategy = strategy.filter(takes(config))

        @given(case=strategy)
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def conforms(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=30)

        try:
            conforms()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
