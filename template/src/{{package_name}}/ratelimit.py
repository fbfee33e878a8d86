"""Rate limits per client, shared by every worker and instance through Redis (REDIS_URL), or
counted in each process without it.

Two limits, both off unless set: RATE_LIMIT for every request to the API (`/api/...`), and
RATE_LIMIT_WRITES, stricter, for writes and exports, which count against both. A client is its
address as the service sees it (through TRUSTED_PROXIES). Each limited response says where the
client stands (`RateLimit-Policy`, `RateLimit`: the IETF draft's structured fields); one over a
limit gets 429 with `Retry-After`. If Redis cannot be reached, requests go through uncounted
rather than fail (for 5 s before Redis is tried again, so that they do not wait on it), and
that is logged once a minute.
"""

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from .settings import Settings

logger = structlog.get_logger(__name__)

API_PREFIX = "/api/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXPORT_SUFFIX = "/export"  # the NDJSON streams: each holds a database connection a while
OUTAGE_LOG_INTERVAL = 60.0  # seconds between two reports of an unreachable Redis
OUTAGE_RETRY_INTERVAL = 5.0  # seconds requests go uncounted before Redis is tried again


@dataclass(frozen=True)
class Standing:
    """Where a client stands after a request: the headers to send, and whether it is over."""

    headers: list[tuple[bytes, bytes]]
    retry_after: int | None  # seconds, when the request is refused


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.limits: list[tuple[str, RateLimitItem, bool]] = []  # name, limit, writes only
        if settings.rate_limit:
            self.limits.append(("api", parse(settings.rate_limit), False))
        if settings.rate_limit_writes:
            self.limits.append(("writes", parse(settings.rate_limit_writes), True))
        storage: Storage = MemoryStorage()
        if settings.redis_url and self.limits:
            storage = RedisStorage(
                f"async+{settings.redis_url}",
                implementation="redispy",
                key_prefix=f"{settings.redis_prefix}:ratelimit",
                socket_connect_timeout=1,
                socket_timeout=1,
            )
        self.limiter = FixedWindowRateLimiter(storage)
        self._outage_logged = -math.inf
        self._retry_at = -math.inf  # while Redis is down, requests do not wait on it

    @property
    def enabled(self) -> bool:
        return bool(self.limits)

    async def check(self, method: str, path: str, client: str | None) -> Standing | None:
        """Count this request against the client's limits; None if none applies to it."""
        if not path.startswith(API_PREFIX) or time.monotonic() < self._retry_at:
            return None
        writes = method in WRITE_METHODS or path.endswith(EXPORT_SUFFIX)
        applicable = [(name, item) for name, item, only in self.limits if writes or not only]
        if not applicable:
            return None
        who = client or "unknown"
        headers: list[tuple[bytes, bytes]] = []
        retry_after: int | None = None
        try:
            for name, item in applicable:
                allowed = await self.limiter.hit(item, name, who)
                stats = await self.limiter.get_window_stats(item, name, who)
                reset = max(0, math.ceil(stats.reset_time - time.time()))
                policy = f'"{name}";q={item.amount};w={item.get_expiry()}'
                headers.append((b"ratelimit-policy", policy.encode()))
                headers.append((b"ratelimit", f'"{name}";r={stats.remaining};t={reset}'.encode()))
                if not allowed:
                    retry_after = max(retry_after or 0, reset, 1)
        except Exception as error:  # noqa: BLE001 - the limits' store is down: let requests through
            now = time.monotonic()
            self._retry_at = now + OUTAGE_RETRY_INTERVAL
            if now - self._outage_logged >= OUTAGE_LOG_INTERVAL:
                self._outage_logged = now
                logger.warning("rate_limit_unavailable", error=repr(error))
            return None
        return Standing(headers, retry_after)
