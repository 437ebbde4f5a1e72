"""Prometheus metrics, on an injected registry (never the global one).

Labels are bounded by construction: route names and operation names come from the
loaded config and the canonical API; codes are HTTP status codes; methods are the
standard ones or `other` (`method_label`); outcomes, stages and reasons are fixed
enums. No path, id, cursor, key or message text is ever a label.

Several worker processes: `serve --workers N` sets PROMETHEUS_MULTIPROC_DIR before
prometheus_client is imported; every worker writes its samples there and `/metrics` in
any worker reads them all through `MultiProcessCollector` (see `exposition_registry`).
What that changes, and the choices made so one process and N look the same:

- Counters and histograms are summed over the workers.
- Every gauge names a `multiprocess_mode`, never the default `all`, which would add a
  `pid` label (one series per worker, a new one per restart). In-flight is `livesum`;
  build info is `livemax`; the circuit breaker state is `livemax` too (each worker has
  its own breaker; the worst state of the live workers is shown); the config gauges are `livemostrecent`, so the build and
  config info stay one series however many workers run. `live*` modes forget a dead
  worker only once `multiprocess.mark_process_dead(pid)` is called for it.
- `chat_gateway_config_loads_total` counts each worker's load: N workers start with N.
- A superseded `config_info` hash cannot be removed from the shared files: it stays at 0.
- `_created` series: the multiprocess collector has none, so `exposition_registry`
  drops them in one process too. Both modes then expose the same series, and a scrape
  holds no second timestamp series per counter and histogram child.
- The directory must start empty: files left by an earlier run are read as live.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from . import __version__
from .errors import CURSOR_REASONS, MAPPING_STAGES

__all__ = ["Metrics", "exposition_registry", "method_label", "LATENCY_BUCKETS"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0, 30.0)
CALL_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
                      "CONNECT"})
_COUNTED = frozenset({"counter", "histogram", "gaugehistogram", "summary"})


def method_label(method: str) -> str:
    """The method as a label: aiohttp's pure-Python parser accepts any token as a method."""
    return method if method in _METHODS else "other"


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition_registry(registry: CollectorRegistry) -> _Exposition:
    """What `/metrics` serves: this process's registry, or every worker's when multiprocess."""
    path = multiprocess_dir()
    if path is None:
        return _Exposition(registry)
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=path)
    return _Exposition(merged)


class _Exposition:
    """The families of `source` less their `_created` samples (see the module docstring).

    It has its own `restricted_registry()`, so `/metrics?name[]=…` works in both modes: a
    `CollectorRegistry` (0.24) restricts only collectors that describe their names, and
    the multiprocess collector does not, so the filter used to answer nothing there.
    """

    def __init__(self, source: Collector, names: frozenset[str] | None = None) -> None:
        self._source = source
        self._names = names

    def restricted_registry(self, names: Iterable[str]) -> _Exposition:
        return _Exposition(self._source, frozenset(names))

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            created = family.name + "_created" if family.type in _COUNTED else None
            samples = [s for s in family.samples if s.name != created
                       and (self._names is None or s.name in self._names)]
            if samples or self._names is None:
                served = Metric(family.name, family.documentation, family.type, family.unit)
                served.samples = samples
                yield served


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.requests = Counter(
            "chat_gateway_requests", "Canonical API requests answered.",
            ["upstream", "operation", "method", "code"], registry=r)
        self.request_duration = Histogram(
            "chat_gateway_request_duration_seconds",
            "Time to answer a canonical API request, upstream calls included.",
            ["upstream", "operation", "method", "code_class"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge(
            "chat_gateway_requests_in_flight", "Canonical API requests being answered.",
            registry=r, multiprocess_mode="livesum")
        self.upstream_requests = Counter(
            "chat_gateway_upstream_requests", "HTTP calls made to upstreams, by outcome.",
            ["upstream", "operation", "code", "outcome"], registry=r)
        self.upstream_duration = Histogram(
            "chat_gateway_upstream_request_duration_seconds",
            "Time of one upstream HTTP call, until its body is read.",
            ["upstream", "operation", "outcome"], buckets=LATENCY_BUCKETS, registry=r)
        self.calls_per_request = Histogram(
            "chat_gateway_upstream_calls_per_request",
            "Upstream calls one canonical request needed (pagination, multi-step operations).",
            ["upstream", "operation"], buckets=CALL_BUCKETS, registry=r)
        self.mapping_failures = Counter(
            "chat_gateway_mapping_failures", "Upstream answers the mapping could not read.",
            ["upstream", "operation", "stage"], registry=r)
        self.cursor_rejections = Counter(
            "chat_gateway_cursor_rejections", "Cursors refused, by reason.", ["reason"], registry=r)
        self.upstream_retries = Counter(
            "chat_gateway_upstream_retries",
            "Upstream calls sent again: by the gateway's retry policy (reason timeout, "
            "connect_error, http_5xx, rate_limited) or by aiohttp on a dropped keep-alive "
            "connection (reason keepalive).",
            ["upstream", "operation", "reason"], registry=r)
        self.circuit_state = Gauge(
            "chat_gateway_circuit_breaker_state",
            "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"], registry=r, multiprocess_mode="livemax")
        self.idempotency = Counter(
            "chat_gateway_idempotency_requests",
            "Requests carrying an Idempotency-Key, by result: new, replayed, in_flight (409), "
            "mismatch (422), released (not kept: nothing was sent, or the upstream said retry).",
            ["upstream", "result"], registry=r)
        self.rejected = Counter(
            "chat_gateway_requests_rejected",
            "Canonical requests refused before any work: rate_limited (429), overloaded (503), "
            "draining.", ["reason"], registry=r)
        self.config_loads = Counter(
            "chat_gateway_config_loads", "Configuration loads and reloads, by result.",
            ["result"], registry=r)
        self.config_last_success = Gauge(
            "chat_gateway_config_last_load_success",
            "1 if the last configuration load or reload succeeded, else 0.",
            registry=r, multiprocess_mode="livemostrecent")
        self.config_success_time = Gauge(
            "chat_gateway_config_last_success_timestamp_seconds",
            "When the configuration in use was loaded (Unix time).",
            registry=r, multiprocess_mode="livemostrecent")
        self.config_info = Gauge(
            "chat_gateway_config_info", "The configuration in use (sha256 of its files) = 1.",
            ["sha256"], registry=r, multiprocess_mode="livemostrecent")
        self.build_info = Gauge(
            "chat_gateway_build_info", "Version of chat-gateway and Python = 1.",
            ["version", "python_version"], registry=r, multiprocess_mode="livemax")
        self.build_info.labels(__version__, platform.python_version()).set(1)
        # Alerts take rate()/increase() of these: a series must exist at 0 before its first
        # increment, or that first increment is invisible to them.
        for result in ("success", "failure"):
            self.config_loads.labels(result)
        for reason in CURSOR_REASONS:
            self.cursor_rejections.labels(reason)
        self._config_hash: str | None = None
        # Label children looked up once per label set (labels() hashes, locks and
        # validates on every call); the label sets are bounded, so are these.
        self._request_children: dict[tuple[str, str, str, int], tuple[Any, ...]] = {}
        self._upstream_children: dict[tuple[str, str, str, str], tuple[Any, ...]] = {}

    def request_answered(self, upstream: str, operation: str, method: str, status: int,
                         elapsed: float, upstream_calls: int | None) -> None:
        key = (upstream, operation, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(upstream, operation, method, str(status)),
                self.request_duration.labels(upstream, operation, method, f"{status // 100}xx"),
                self.calls_per_request.labels(upstream, operation))
        children[0].inc()
        children[1].observe(elapsed)
        if upstream_calls is not None:
            children[2].observe(upstream_calls)

    def upstream_answered(self, upstream: str, operation: str, code: str, outcome: str,
                          elapsed: float) -> None:
        key = (upstream, operation, code, outcome)
        children = self._upstream_children.get(key)
        if children is None:
            children = self._upstream_children[key] = (
                self.upstream_requests.labels(upstream, operation, code, outcome),
                self.upstream_duration.labels(upstream, operation, outcome))
        children[0].inc()
        children[1].observe(elapsed)

    def config_loaded(self, sha256: str, now: float) -> None:
        self.config_loads.labels("success").inc()
        self.config_last_success.set(1)
        self.config_success_time.set(now)
        if self._config_hash and self._config_hash != sha256:
            self.config_info.labels(self._config_hash).set(0)
            if multiprocess_dir() is None:
                self.config_info.remove(self._config_hash)
        self.config_info.labels(sha256).set(1)
        self._config_hash = sha256

    def routes_known(self, routes: Mapping[str, Iterable[str]]) -> None:
        """Create the per-route series alerts rate() over, at 0 (route name → operations)."""
        for route, operations in routes.items():
            for operation in operations:
                for stage in MAPPING_STAGES:
                    self.mapping_failures.labels(route, operation, stage)

    def config_failed(self) -> None:
        self.config_loads.labels("failure").inc()
        self.config_last_success.set(0)
