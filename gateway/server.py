"""The aiohttp application: middlewares, canonical routes and system endpoints.

Middlewares, outermost first: request id → observe (metrics, access log, in-flight)
→ problems (every error becomes application/problem+json). The canonical routes all
go to `pipeline.handle`; the operation is the aiohttp route's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from .canonical import OPERATIONS
from .config.model import GatewayConfig
from .errors import (ClientClosedRequest, InternalError, MappingError, NotFound, Problem,
                     UpstreamUnavailable)
from .logs import access_line
from .metrics import Metrics, exposition_registry, method_label
from .problem_docs import ProblemDocs, problem_docs_path, read_problem_docs
from .pipeline import authenticate, dumps, handle
from .state import (BUDGET, CONSUMER, FAILURE, OPERATION, REQUEST_ID, ROUTE, STATE, UPSTREAM_CALLS, GatewayState,
                    load_state)
from .resilience.admission import InFlight, admission_middleware
from .resilience.ratelimit import Limiter
from .resilience.idempotency import idempotency_middleware
from .resilience.redis_stores import RedisKeyStore, RedisLimiter
from .upstream import UpstreamClient, count_sends

__all__ = ["create_app"]

log = logging.getLogger("chat_gateway")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_PROBLEM = "application/problem+json"
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def create_app(config_path: str | Path, env: Mapping[str, str], *,
               registry: CollectorRegistry | None = None,
               clock: Callable[[], float] = time.time,
               session: aiohttp.ClientSession | None = None) -> web.Application:
    metrics = Metrics(registry or CollectorRegistry())
    state = load_state(config_path, env, metrics, clock)
    # problem_middleware twice: the inner one turns the handler's problems into responses
    # that the idempotency layer can keep and the admission layer can add headers to.
    app = web.Application(middlewares=[request_id_middleware, observe_middleware,
                                       problem_middleware, _ADMISSION, _IDEMPOTENCY,
                                       problem_middleware],
                          client_max_size=state.config.limits.max_body_bytes)
    app[STATE] = state
    app.cleanup_ctx.append(_client_context(session))
    if env.get("GATEWAY_CONFIG_WATCH_SECONDS"):  # optional: reload when a file changes
        app.cleanup_ctx.append(_watch_context(float(env["GATEWAY_CONFIG_WATCH_SECONDS"])))
    app.cleanup_ctx.append(_stores_context)
    app.on_shutdown.append(_drain)
    for name, operation in OPERATIONS.items():
        app.router.add_route(operation.method, "/v1/{upstream}" + operation.path, handle, name=name)
    app.router.add_get("/v1/upstreams", list_upstreams, name="list_upstreams")
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/problems/{problem_type}",
                       ProblemDocs(read_problem_docs(problem_docs_path())).handle)
    app.router.add_get("/metrics", make_aiohttp_handler(exposition_registry(metrics.registry)))
    return app


def _client_context(session: aiohttp.ClientSession | None) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        state = app[STATE]
        own = session is None
        client_session = session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200, limit_per_host=50, ttl_dns_cache=300),
            auto_decompress=True, trust_env=False, middlewares=(count_sends,),
            # An upstream's cookies are never kept: they would go out with the next call
            # to it on behalf of any consumer (and cost a cookie-jar pass per call).
            cookie_jar=aiohttp.DummyCookieJar())
        limits = state.config.limits
        state.client = UpstreamClient(client_session, state.metrics,
                                      max_body_bytes=limits.max_upstream_body_bytes,
                                      wall_clock=state.clock,
                                      max_retry_after=limits.max_retry_after_seconds)
        yield
        if own:
            await client_session.close()
    return context


def _watch_context(interval: float) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(app[STATE].watch(interval))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return context


async def _stores_context(app: web.Application) -> AsyncIterator[None]:
    """Idempotency records and rate-limit buckets in Redis when `redis.url` is set (read
    at start; a reload does not move them)."""
    state = app[STATE]
    url = state.config.resilience.redis_url
    if url is None:
        yield
        return
    import redis.asyncio

    client = redis.asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    state.keys, state.limiter = RedisKeyStore(client), RedisLimiter(client)
    yield
    await client.aclose()


def _admission_parts(request: web.Request
                     ) -> tuple[GatewayConfig, InFlight, Limiter, Metrics]:
    state = request.app[STATE]
    return state.config, state.in_flight, state.limiter, state.metrics


def _idempotency_settings(request: web.Request) -> tuple[float, float]:
    """(how long an answer is kept, how long a claim holds if its process dies)."""
    config = request.app[STATE].config
    route = config.routes.get(request.match_info.get("upstream", ""))
    deadline = config.resilience.deadline_for(route.upstream) if route else 60.0
    return (config.resilience.idempotency_ttl_seconds,
            deadline + config.server.body_timeout_seconds + 5)


def _count_idempotency(request: web.Request, result: str) -> None:
    state = request.app[STATE]
    route = request.match_info.get("upstream", "")
    state.metrics.idempotency.labels(route if route in state.config.routes else "unknown",
                                     result).inc()


_ADMISSION = admission_middleware(_admission_parts, authenticate)
_IDEMPOTENCY = idempotency_middleware(
    consumer_of=lambda request: authenticate(request, request.app[STATE].config).name,
    store_of=lambda request: request.app[STATE].keys,
    settings_of=_idempotency_settings, budget_key=BUDGET,
    new_token=lambda: uuid.uuid4().hex, count=_count_idempotency,
    body_seconds=lambda request: request.app[STATE].config.server.body_timeout_seconds)


async def _drain(app: web.Application) -> None:
    app[STATE].draining = True


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    request[REQUEST_ID] = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
    response = await handler(request)
    response.headers["X-Request-ID"] = request[REQUEST_ID]
    return response


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    canonical = request.path.startswith("/v1/")
    if not canonical:
        return await handler(request)
    state: GatewayState = request.app[STATE]
    started = time.perf_counter()
    state.metrics.in_flight.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # what the problem middleware lets through (< 400)
        status = exc.status
        raise
    except asyncio.CancelledError:  # handler_cancellation: the client hung up, or shutdown
        if request.transport is None or request.transport.is_closing():
            status = ClientClosedRequest.status
        raise
    finally:
        state.metrics.in_flight.dec()
        elapsed = time.perf_counter() - started
        _observe(request, state, status, elapsed)


def _observe(request: web.Request, state: GatewayState, status: int, elapsed: float) -> None:
    # Only names the config or the canonical API defines become labels, never the raw
    # path segment: a request refused before routing (401) still names a known upstream.
    named = request.match_info.get("upstream")
    if named is None:  # the router refused the path or method (404, 405): its segment
        parts = request.path.split("/", 3)
        named = parts[2] if len(parts) > 2 else None
    route = request.get(ROUTE) or (named if named in state.config.routes else "unknown")
    operation = request.get(OPERATION, "unmatched")
    if operation == "unmatched" and request.match_info.route.name == "list_upstreams":
        operation = "list_upstreams"
    method = method_label(request.method)
    calls = request.get(UPSTREAM_CALLS)
    state.metrics.request_answered(route, operation, method, status, elapsed, calls)
    resource = request.match_info.route.resource
    access_line({
        "request_id": request[REQUEST_ID], "consumer": request.get(CONSUMER),
        "upstream": route, "operation": operation, "method": method,
        "route": resource.canonical if resource else None, "status": status,
        "duration_ms": round(elapsed * 1000, 3), "upstream_calls": calls or 0,
        **request.get(FAILURE, {})})


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return _problem_response(request, problem)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _problem_response(request, _http_problem(exc))
    except ConnectionResetError:  # the client went away; nothing to answer, nothing broke
        return _problem_response(request, ClientClosedRequest("the client closed the connection"))
    except Exception:
        log.exception("unhandled error", extra={"request_id": request.get(REQUEST_ID)})
        return _problem_response(request, InternalError("the gateway failed; see its logs "
                                                         "with this request_id"))


class _HttpProblem(Problem):
    """An aiohttp HTTPException (405, 413 from the server itself …) as a problem,
    keeping the headers it must carry (405's `Allow`)."""

    type_ = "http-error"

    def __init__(self, exc: web.HTTPException) -> None:
        super().__init__(exc.reason)
        self.status, self.title = exc.status, exc.reason
        self._headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}

    def headers(self) -> dict[str, str]:
        return self._headers


def _http_problem(exc: web.HTTPException) -> Problem:
    if exc.status == 404:
        return NotFound("no such endpoint; see GET /openapi.json")
    return _HttpProblem(exc)


def _problem_response(request: web.Request, problem: Problem) -> web.Response:
    state: GatewayState = request.app[STATE]
    body = problem.body()
    body["detail"] = state.redact(body["detail"])
    request[FAILURE] = _failure(problem, body["detail"])
    body["request_id"] = request.get(REQUEST_ID)
    if ROUTE in request:
        body.setdefault("upstream", request[ROUTE])
    if OPERATION in request:
        body.setdefault("operation", request[OPERATION])
    if isinstance(problem, MappingError):
        state.metrics.mapping_failures.labels(request.get(ROUTE, "unknown"),
                                              request.get(OPERATION, "unmatched"),
                                              problem.stage).inc()
    return web.Response(status=problem.status, text=dumps(body), content_type=_PROBLEM,
                        headers=problem.headers())


def _failure(problem: Problem, detail: str) -> dict[str, Any]:
    """What the access line of a failed call adds: the operator's reason, already redacted."""
    failure = {"problem": problem.type_, "upstream_status": problem.upstream_status,
               "detail": detail}
    if isinstance(problem, MappingError):
        failure["stage"] = problem.stage
    return failure



async def list_upstreams(request: web.Request) -> web.Response:
    state: GatewayState = request.app[STATE]
    consumer = authenticate(request, state.config)
    routes = [{"name": name, "operations": sorted(route.operations)}
              for name, route in sorted(state.config.routes.items())
              if consumer.upstreams is None or name in consumer.upstreams]
    return web.json_response({"data": routes}, dumps=dumps)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state: GatewayState = request.app[STATE]
    if state.draining:
        raise UpstreamUnavailable("the gateway is draining")
    return web.json_response({"status": "ok", "config_sha256": state.config.sha256})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].openapi, dumps=dumps)
