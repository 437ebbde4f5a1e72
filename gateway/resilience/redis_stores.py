"""Idempotency records and rate-limit buckets in Redis, shared by every replica.

Each operation is one atomic Redis command or Lua script: `SET NX PX` claims a key,
a compare-and-delete script releases only the claimer's pending record, and the token
bucket is read, refilled and taken in one script on Redis's own clock (`TIME`), so
replicas with skewed clocks agree.
"""

from __future__ import annotations

from typing import Any

from ..config.model import RateLimit
from .idempotency import Record
from .ratelimit import Decision

__all__ = ["RedisKeyStore", "RedisLimiter"]

_RELEASE = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)['token'] == ARGV[1] and cjson.decode(held)['status'] == cjson.null then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisKeyStore:
    def __init__(self, redis: Any, prefix: str = "chat-gateway:idem:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._release = redis.register_script(_RELEASE)

    async def claim(self, scope: str, record: Record, lock_seconds: float) -> Record | None:
        key = self._prefix + scope
        for _ in range(3):  # a held record can expire between SET NX and GET
            if await self._redis.set(key, record.dumps(), nx=True,
                                     px=max(1, int(lock_seconds * 1000))):
                return None
            held = await self._redis.get(key)
            if held is not None:
                return Record.loads(held)
        return Record(record.fingerprint, "", None)  # keeps changing hands: in flight

    async def save(self, scope: str, record: Record, ttl_seconds: float) -> None:
        await self._redis.set(self._prefix + scope, record.dumps(),
                              px=max(1, int(ttl_seconds * 1000)))

    async def release(self, scope: str, token: str) -> None:
        await self._release(keys=[self._prefix + scope], args=[token])


class RedisLimiter:
    def __init__(self, redis: Any, prefix: str = "chat-gateway:rate:") -> None:
        self._prefix = prefix
        self._take = redis.register_script(_TAKE)

    async def take(self, consumer: str, limit: RateLimit) -> Decision:
        allowed, tokens = await self._take(keys=[self._prefix + consumer],
                                           args=[limit.requests_per_second, limit.burst])
        return Decision(bool(int(allowed)), float(tokens))
