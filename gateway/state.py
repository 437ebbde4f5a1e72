"""The running gateway's state: one object in the app, its config swapped whole."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .config.loader import load_config
from .config.model import GatewayConfig
from .cursors import CursorCodec
from .errors import ConfigError
from .metrics import Metrics
from .openapi import build_openapi
from .resilience.admission import InFlight
from .resilience.deadline import Budget
from .resilience.idempotency import KeyStore, MemoryKeyStore
from .resilience.ratelimit import Limiter, MemoryLimiter
from .redaction import Redactor
from .upstream import UpstreamClient
from . import __version__

__all__ = ["GatewayState", "STATE", "load_state", "REQUEST_ID", "CONSUMER", "ROUTE",
           "OPERATION", "UPSTREAM_CALLS", "FAILURE", "BUDGET"]

log = logging.getLogger("chat_gateway")


@dataclass
class _Loaded:
    config: GatewayConfig
    cursors: CursorCodec
    openapi: dict[str, Any]
    redactor: Redactor


@dataclass
class GatewayState:
    config_path: Path
    env: Mapping[str, str]
    metrics: Metrics
    clock: Callable[[], float]
    loaded: _Loaded
    client: UpstreamClient = field(default=None)  # type: ignore[assignment]  # set at startup
    draining: bool = False
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _tasks: set[asyncio.Task[bool]] = field(default_factory=set, repr=False)
    # resilience stores, set at startup (in this process, or in Redis when configured)
    keys: KeyStore = field(default_factory=MemoryKeyStore)
    limiter: Limiter = field(default_factory=MemoryLimiter)
    in_flight: InFlight = field(default_factory=InFlight)

    @property
    def config(self) -> GatewayConfig:
        return self.loaded.config

    @property
    def cursors(self) -> CursorCodec:
        return self.loaded.cursors

    @property
    def openapi(self) -> dict[str, Any]:
        return self.loaded.openapi

    def pinned(self) -> GatewayState:
        """This state with its config fixed: a request holds it from start to end, so a
        reload meanwhile changes nothing for it (routes, mappings, cursor secrets)."""
        pinned = object.__new__(GatewayState)  # a shallow copy (copy.copy is 5x slower)
        pinned.__dict__.update(self.__dict__)
        return pinned

    def redact(self, text: str) -> str:
        """`text` without the running config's secrets (in any common encoding)."""
        return self.loaded.redactor(text)

    def reload(self) -> bool:
        """Load the config again, here (blocking); on any error keep the running one."""
        try:
            loaded = _load(self.config_path, self.env, self.clock)
        except ConfigError as exc:
            return self._failed(exc)
        return self._install(loaded)

    async def reload_async(self) -> bool:
        """Compile the new config in a worker thread, so the event loop keeps serving,
        then swap it in with one assignment. Reloads run one at a time, in order."""
        async with self._reload_lock:
            try:
                loaded = await asyncio.to_thread(_load, self.config_path, self.env, self.clock)
            except ConfigError as exc:
                return self._failed(exc)
            return self._install(loaded)

    def request_reload(self) -> None:
        """For a signal handler (SIGHUP): start `reload_async()` and keep its task."""
        task = asyncio.get_running_loop().create_task(self.reload_async())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def watch(self, interval: float) -> None:
        """Reload when routes.yaml or a mapping it names changes (mtime polled)."""
        seen = self._mtimes()
        while True:
            await asyncio.sleep(interval)
            now = self._mtimes()
            if now != seen:
                seen = now
                await self.reload_async()

    def _mtimes(self) -> dict[str, float]:
        files = [self.config_path, *(Path(r.upstream.mapping_file).resolve()
                                     for r in self.config.routes.values())]
        out = {}
        for path in files:
            try:
                out[str(path)] = path.stat().st_mtime
            except OSError:
                out[str(path)] = -1.0
        return out

    def _failed(self, exc: ConfigError) -> bool:
        self.metrics.config_failed()
        log.error("config reload failed; keeping the running config", extra={"error": str(exc)})
        return False

    def _install(self, loaded: _Loaded) -> bool:
        self.loaded = loaded  # one assignment: a request sees the old or the new, never a mix
        logging.getLogger("chat_gateway").setLevel(loaded.config.log_level)
        _loaded_metrics(self.metrics, loaded.config, self.clock())
        log.info("config reloaded", extra={"sha256": loaded.config.sha256})
        return True


def openapi_version(config_sha256: str) -> str:
    """The package version plus the config's hash: a client generated from one document
    can tell that the API it was built for (routes, enums) has changed."""
    return f"{__version__}+config.{config_sha256[:12]}"


def _load(path: Path, env: Mapping[str, str], clock: Callable[[], float]) -> _Loaded:
    config = load_config(path, env)
    routes = {name: sorted(route.operations) for name, route in config.routes.items()}
    return _Loaded(config, CursorCodec(config.cursor.secrets, config.cursor.ttl_seconds, clock),
                   build_openapi(routes, version=openapi_version(config.sha256)),
                   Redactor(config.secrets))


def _loaded_metrics(metrics: Metrics, config: GatewayConfig, now: float) -> None:
    metrics.config_loaded(config.sha256, now)
    metrics.routes_known({name: route.operations for name, route in config.routes.items()})
    for name, variable in sorted(config.disabled.items()):
        log.info("upstream disabled", extra={"upstream": name, "unset": variable})


def load_state(path: str | Path, env: Mapping[str, str], metrics: Metrics,
               clock: Callable[[], float]) -> GatewayState:
    """First load: a bad config raises (the process must not start on it)."""
    try:
        loaded = _load(Path(path), env, clock)
    except ConfigError:
        metrics.config_failed()
        raise
    _loaded_metrics(metrics, loaded.config, clock())
    return GatewayState(Path(path), dict(env), metrics, clock, loaded)


STATE = web.AppKey("state", GatewayState)

# What the pipeline learns about a request, for the middlewares that observe it.
REQUEST_ID = web.RequestKey("request_id", str)
CONSUMER = web.RequestKey("consumer", str)
ROUTE = web.RequestKey("route", str)
OPERATION = web.RequestKey("operation", str)
UPSTREAM_CALLS = web.RequestKey("upstream_calls", int)
FAILURE = web.RequestKey("failure", dict)  # problem type, upstream status, redacted detail
BUDGET = web.RequestKey("budget", Budget)  # the deadline, and whether a send may have happened
