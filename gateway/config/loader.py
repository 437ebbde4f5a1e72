"""Load `routes.yaml` and the mappings it names into a `GatewayConfig`.

Everything is checked here, once: the schema of each file (with `jsonschema`'s
`best_match`, so a typo'd key is "unexpected"), then each mapping compiled (see
`compile.py`), every route's upstream, credentials and cursor secrets. Every error is
collected; `load_config()` raises them all as one `ConfigErrors`, each reading
`file:line path: message`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .compile import compile_upstream
from .model import (BreakerSettings, Consumer, CursorSettings, GatewayConfig, Limits, RateLimit,
                    Resilience, RetrySettings, Route, ServerSettings, UpstreamSpec)
from .optional import drop_disabled_upstreams
from .problems import Problems, under, validate
from .schemas import ROUTES_SCHEMA
from .source import Source, load_yaml

__all__ = ["load_config", "validate"]

_ROUTES_VALIDATOR = Draft202012Validator(ROUTES_SCHEMA)


def load_config(path: str | Path, env: Mapping[str, str]) -> GatewayConfig:
    """Compile the config, or raise `ConfigErrors` listing every error found."""
    path = Path(path)
    problems = Problems()
    source = load_yaml(path, env, defer_missing=True)
    disabled = drop_disabled_upstreams(source)  # and raises for every other unset variable
    bad = problems.schema(source, _ROUTES_VALIDATOR)
    data = source.data if isinstance(source.data, dict) else {}
    digest = hashlib.sha256(source.text.encode())
    upstreams: dict[str, UpstreamSpec] = {}
    secrets: list[str] = []
    declared: dict[str, Any] = data["upstreams"] if isinstance(data.get("upstreams"), dict) else {}
    for name, settings in declared.items():
        if under(bad, ("upstreams", name)):
            continue
        with problems.guard():
            mapping_path = (path.parent / settings["mapping"]).resolve()
            mapping = load_yaml(mapping_path, env, display=_display(mapping_path))
            digest.update(mapping.text.encode())
            upstreams[name] = compile_upstream(name, settings, mapping, source, problems)
            if upstreams[name].auth is not None:
                secrets.extend(upstreams[name].auth.secrets)
    if not under(bad, ("consumers",)):
        for spec in data.get("consumers") or []:  # client API keys are secrets in logs too
            with problems.guard():
                secrets.extend(filter(None, _keys(spec)))
    config = None
    with problems.guard():
        listen = data.get("listen", {})
        resilience = data.get("resilience", {}) if not under(bad, ("resilience",)) else {}
        config = GatewayConfig(
            sha256=digest.hexdigest(),
            host=listen.get("host", "127.0.0.1"),
            port=int(listen.get("port", 8080)),
            log_level=str(data.get("log_level", "INFO")).upper(),
            cursor=problems.part(bad, ("cursor",), lambda: _cursor(data["cursor"], source)),
            limits=Limits(**data.get("limits", {})) if not under(bad, ("limits",)) else Limits(),
            consumers=problems.part(bad, ("consumers",), lambda: _consumers(
                data.get("consumers", []), _rate_limit(resilience.get("rate_limit")), source)),
            routes=problems.part(bad, ("routes",),
                         lambda: _routes(data["routes"], upstreams, set(declared), source, problems)),
            secrets=tuple(sorted(set(secrets), key=len, reverse=True)),
            resilience=problems.part(bad, ("resilience",), lambda: _resilience(
                resilience, data.get("redis", {}), source)),
            server=ServerSettings(**data.get("server", {})) if not under(bad, ("server",))
            else ServerSettings(),
            disabled=disabled,
        )
    problems.raise_any()
    assert config is not None
    return config

def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _cursor(spec: dict[str, Any], source: Source) -> CursorSettings:
    secrets = tuple(s.encode() for s in spec["secrets"] if s)
    if not secrets or len(secrets[0]) < 16:
        raise source.error(("cursor", "secrets", 0),
                           "the cursor signing secret must be at least 16 characters")
    return CursorSettings(secrets=secrets, ttl_seconds=int(spec.get("ttl_seconds", 86400)))


def _rate_limit(spec: dict[str, Any] | str | None) -> RateLimit | None:
    if spec is None or isinstance(spec, str):  # "none": the schema allows no other string
        return None
    rate = float(spec["requests_per_second"])
    return RateLimit(rate, int(spec.get("burst", max(1, round(rate)))))


def _resilience(spec: dict[str, Any], redis: dict[str, Any], source: Source) -> Resilience:
    breaker = BreakerSettings(**spec.get("breaker", {}))
    if breaker.min_calls > breaker.window:
        raise source.error(("resilience", "breaker", "min_calls"),
                           f"min_calls {breaker.min_calls} is more than window {breaker.window}")
    retry = RetrySettings(**spec.get("retry", {}))
    return Resilience(
        deadline_seconds=spec.get("deadline_seconds"),
        retry=retry,
        breaker=breaker,
        idempotency_ttl_seconds=spec.get("idempotency", {}).get("ttl_seconds", 86400),
        max_in_flight=spec.get("max_in_flight", 1024),
        redis_url=redis.get("url") or None,
    )


def _keys(consumer: dict[str, Any]) -> list[str]:
    keys = consumer["keys"]
    return [k.strip() for k in (keys.split(",") if isinstance(keys, str) else keys)]


def _consumers(specs: list[dict[str, Any]], default_limit: RateLimit | None,
               source: Source) -> dict[str, Consumer]:
    out: dict[str, Consumer] = {}
    for index, spec in enumerate(specs):
        keys = _keys(spec)
        allowed = spec.get("upstreams", "*")
        limit = _rate_limit(spec["rate_limit"]) if "rate_limit" in spec else default_limit
        consumer = Consumer(spec["name"], None if allowed == "*" else frozenset(allowed), limit)
        for key in filter(None, keys):
            if len(key) < 8:
                raise source.error(("consumers", index, "keys"),
                                   "API keys must be at least 8 characters")
            out[hashlib.sha256(key.encode()).hexdigest()] = consumer
    return out


def _routes(specs: list[dict[str, Any]], upstreams: dict[str, UpstreamSpec],
            declared: set[str], source: Source, problems: Problems) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for index, spec in enumerate(specs):
        with problems.guard():
            where = ("routes", index)
            if spec["name"] in routes:
                raise source.error((*where, "name"), f"route {spec['name']!r} is declared twice")
            upstream = upstreams.get(spec["upstream"])
            if upstream is None:
                if spec["upstream"] in declared:
                    continue  # its own errors are reported
                raise source.error((*where, "upstream"), f"no upstream named "
                                   f"{spec['upstream']!r}; declared: {sorted(declared)}")
            wanted = spec.get("operations", "*")
            available = frozenset(upstream.operations)
            if wanted != "*":
                missing = sorted(set(wanted) - available)
                if missing:
                    raise source.error((*where, "operations"),
                                       f"mapping {upstream.mapping_file} has no {missing}")
                available = frozenset(wanted)
            routes[spec["name"]] = Route(spec["name"], upstream, available)
    return routes
