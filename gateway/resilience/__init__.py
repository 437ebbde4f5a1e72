"""Resilience: every concern one small module, each testable alone.

The upstream call, composed in `UpstreamClient` (upstream.py):

    deadline.py  DeadlineLayer   the request's end-to-end budget; each call gets what is left
    breaker.py   BreakerLayer    per-upstream circuit breaker (open → 503 circuit-open)
    retry.py     RetryLayer      idempotent calls only; jittered backoff, Retry-After
                 attempt         one exchange, classified (upstream.py)

Around the canonical request, as server middlewares:

    admission.py    load shedding (max in flight → 503) and per-consumer rate limits (429)
    idempotency.py  Idempotency-Key: one send per key, the answer replayed
    ratelimit.py    the token bucket and its RateLimit headers
    redis_stores.py idempotency records and buckets in Redis, shared by replicas
    drain.py        graceful drain on SIGTERM (pre-stop delay, grace period)
"""
