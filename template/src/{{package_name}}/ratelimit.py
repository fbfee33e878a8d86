"""Rate limits per client, shared by every worker and instance through Redis (REDIS_URL), or
counted in each process without it.

Two limits, both off unless set: RATE_LIMIT for every request to the API (`/api/...`), and
RATE_LIMIT_WRITES, stricter, for writes and exports, which count against both. A client is the
subject of its access token when authentication has found one (`scope["state"]["subject"]`),
else its address as the service sees it (through TRUSTED_PROXIES): this layer runs inside
both (RequestContextMiddleware, then AuthMiddleware if any). Each limited response says where the
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

from .middleware import ASGIApp, Message, Receive, Scope, Send
from .problems import PROBLEM_CONTENT_TYPE, RATE_LIMITED, encode, problem
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

    async def check(self, method: str, path: str, who: str) -> Standing | None:
        """Count this request against the client's limits; None if none applies to it."""
        if not path.startswith(API_PREFIX) or time.monotonic() < self._retry_at:
            return None
        writes = method in WRITE_METHODS or path.endswith(EXPORT_SUFFIX)
        applicable = [(name, item) for name, item, only in self.limits if writes or not only]
        if not applicable:
            return None
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


def client_key(scope: Scope) -> str:
    """Who is counted: the token's subject if authenticated, else the client's address."""
    subject = scope.get("state", {}).get("subject")
    if subject:
        return f"subject:{subject}"
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limiter = RateLimiter(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        standing = await self.limiter.check(scope["method"], scope["path"], client_key(scope))
        if standing is None:
            await self.app(scope, receive, send)
            return
        if standing.retry_after is not None:
            body = encode(problem(429, RATE_LIMITED, instance=scope["path"]))
            headers = [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(standing.retry_after).encode()),
                *standing.headers,
            ]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_standing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *standing.headers]
            await send(message)

        await self.app(scope, receive, send_with_standing)
