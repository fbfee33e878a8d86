"""The service's outermost behaviour, as pure ASGI middleware.

Pure ASGI rather than a framework's middleware base class: `BaseHTTPMiddleware` runs the app in
another task, which loses context variables and buffers streaming bodies. This middleware
- takes a valid incoming `X-Request-ID` or makes one, binds it (with method and path) in the
  structlog context, and returns it on every response, the 400, 413 and 500 ones included;
- answers 400 to a request whose `Host` is not one of `ALLOWED_HOSTS` (a WebSocket handshake
  gets 403), except under /health/, which orchestrators probe by the pod's address;
- believes `X-Forwarded-Proto` and `X-Forwarded-For` from `TRUSTED_PROXIES` only: the scheme
  (https: HSTS, secure cookies) and the client's address then are the ones the proxy saw;
- adds the security headers every response carries (no MIME sniffing, no framing, the
  referrer kept to this origin, a content security policy fit for what the response is; HSTS
  over https) where the framework did not;
- answers 413 for a body over the limit, by its `Content-Length` or while it streams in, and
  408 (`Connection: close`) for a body that has not arrived `BODY_TIMEOUT` seconds after
  the request began, however slowly it trickles in;
- drops a streamed response whose client stops reading for `SEND_TIMEOUT` seconds, so that
  the stream's database cursor and connection go back to the pool;
- turns any exception that escapes the app into a logged, generic 500 problem;
- writes exactly one access line per request, with its status and duration;
- gives each WebSocket connection a request id too, bound in the logs of the whole connection,
  and writes one line when the connection ends.
"""

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextvars import ContextVar
from typing import Any

import structlog

from .problems import (
    BODY_TOO_SLOW,
    HOST_NOT_ALLOWED,
    PROBLEM_CONTENT_TYPE,
    REQUEST_ID_HEADER,
    SERVER_ERROR,
    encode,
    new_request_id,
    problem,
    valid_request_id,
)
from .settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = structlog.get_logger(f"{__package__}.access")
error_log = structlog.get_logger(f"{__package__}.errors")

_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
_HEALTH_PREFIX = "/health/"

# On every response that does not set them already (Django's middleware sets the same).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")  # https only

# Content-Security-Policy, by what the response is (unless the app set one). Data (JSON, the
# problems, the export) may load and run nothing. An HTML page (the Django admin) loads what
# this origin serves. The API docs pages too, and they need a little more: Swagger UI starts
# from an inline script (FastAPI's page), ReDoc styles itself inline and parses in a worker.
CSP_HEADER = b"content-security-policy"
CSP_DATA = b"default-src 'none'; frame-ancestors 'none'"
CSP_PAGE = (
    b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    b"form-action 'self'; frame-ancestors 'none'"
)
CSP_DOCS = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    b"frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})

Cleanup = Callable[[], Awaitable[object]]
_at_end: ContextVar[list[Cleanup] | None] = ContextVar("at_end", default=None)


def at_request_end(cleanup: Cleanup) -> None:
    """Await `cleanup` once the current request is over, however it ended.

    For what must not wait for the garbage collector: a response abandoned halfway (its client
    stopped reading or went away) may leave its body's generators to the collector, which runs
    whenever it likes, in whatever thread. Outside a request, this does nothing.
    """
    cleanups = _at_end.get()
    if cleanups is not None:
        cleanups.append(cleanup)


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


Headers = list[tuple[bytes, bytes]]


def _with_defaults(headers: Headers, defaults: Sequence[tuple[bytes, bytes]]) -> Headers:
    present = {name.lower() for name, _ in headers}
    return [*headers, *(header for header in defaults if header[0] not in present)]


def _content_security_policy(path: str, headers: Headers) -> tuple[bytes, bytes]:
    if path in DOCS_PATHS:
        return CSP_HEADER, CSP_DOCS
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    return CSP_HEADER, CSP_PAGE if content_type.startswith(b"text/html") else CSP_DATA


def host_allowed(host: str | None, allowed: Sequence[str]) -> bool:
    """Whether a `Host` header names a host of `allowed`, lowercase patterns with Django's
    rules: `*` is any host, `.example.com` is example.com and its subdomains. The port and a
    trailing dot of the host are ignored."""
    if host is None:
        return False
    name = host.lower()
    if name.startswith("["):  # an IPv6 literal: `[::1]` or `[::1]:8000`
        name = name[: name.find("]") + 1]
    else:
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    name = name.removesuffix(".")
    if not name:
        return False
    for pattern in allowed:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:]):
            return True
    return False


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body_size = settings.max_body_size
        self.body_timeout = settings.body_timeout
        self.send_timeout = settings.send_timeout
        self.allowed_hosts = tuple(host.lower() for host in settings.allowed_hosts)
        self.trusted_proxies = tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in settings.trusted_proxies
        )

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    def _as_the_proxy_saw_it(self, scope: Scope) -> Scope:
        """The scope with the scheme and client address a trusted proxy reports.

        `X-Forwarded-For` lists the addresses the request came through, the newest last: the
        client is the last one that is not a trusted proxy. Anybody else's headers are ignored.
        """
        client = scope.get("client")
        if not self.trusted_proxies or not client or not self._trusted(client[0]):
            return scope
        scope = dict(scope)
        proto = _header(scope, b"x-forwarded-proto")
        if proto:
            secure = proto.split(",")[-1].strip().lower() in {"https", "wss"}
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = "https" if secure else "http"
        forwarded_for = _header(scope, b"x-forwarded-for")
        if forwarded_for:
            hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
            while len(hops) > 1 and self._trusted(hops[-1]):
                hops.pop()
            if hops:
                scope["client"] = (hops[-1], 0)
        return scope

    def _host_refused(self, scope: Scope) -> bool:
        if scope["path"].startswith(_HEALTH_PREFIX):
            return False
        hosts = [value.decode("latin-1") for key, value in scope["headers"] if key == b"host"]
        if not hosts and scope.get("server"):  # HTTP/1.0 may send none: the address it reached
            hosts = [str(scope["server"][0])]
        # Two Host headers are ambiguous: the client may mean either, so neither is trusted.
        host = hosts[0] if len(hosts) == 1 else None
        if host_allowed(host, self.allowed_hosts):
            return False
        # The header is the client's: log a bounded excerpt of it, never the whole value.
        access_log.warning("host_not_allowed", host=", ".join(hosts)[:100])
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = self._as_the_proxy_saw_it(scope)
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = valid_request_id(_header(scope, _REQUEST_ID_KEY)) or new_request_id()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, method=scope["method"], path=scope["path"]
        )
        start = time.perf_counter()
        cleanups: list[Cleanup] = []
        _at_end.set(cleanups)
        https = scope.get("scheme") == "https"  # the ASGI default is http
        security_headers = SECURITY_HEADERS + ((HSTS,) if https else ())
        body_deadline = asyncio.get_running_loop().time() + self.body_timeout
        status = 500
        started = False  # a response has begun, from the app or from here
        answered = False  # this middleware answered; whatever the app sends is dropped
        received = 0
        body_done = False  # the client has sent its whole body
        streaming = False  # the response body comes in several parts
        stalled = False  # the client stopped reading a streamed response

        async def send_with_id(message: Message) -> None:
            nonlocal status, started, streaming, stalled
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = [*message.get("headers", ()), (_REQUEST_ID_KEY, request_id.encode())]
                policy = _content_security_policy(scope["path"], headers)
                message["headers"] = _with_defaults(headers, (*security_headers, policy))
            elif streaming or message.get("more_body", False):
                # A stream waits for its client to read: not forever. (A body sent at once is
                # left to the server's buffers, which no client can make it wait on.)
                streaming = True
                try:
                    async with asyncio.timeout(self.send_timeout):
                        await send(message)
                except TimeoutError:
                    stalled = True
                    raise
                return
            await send(message)

        async def answer(status_code: int, detail: str, *, close: bool = False) -> None:
            nonlocal answered
            body = encode(problem(status_code, detail, instance=scope["path"]))
            headers = [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode("latin-1")),
                (b"content-length", str(len(body)).encode("latin-1")),
            ]
            if close:  # the rest of the request will not come: the connection cannot be reused
                headers.append((b"connection", b"close"))
            await send_with_id(
                {"type": "http.response.start", "status": status_code, "headers": headers}
            )
            await send_with_id({"type": "http.response.body", "body": body})
            answered = True

        async def app_send(message: Message) -> None:
            if not answered:
                await send_with_id(message)

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # past the body, only a disconnect can come: wait for it freely
                return await receive()
            try:
                async with asyncio.timeout_at(body_deadline):
                    message = await receive()
            except TimeoutError:
                if not answered and not started:
                    await answer(408, BODY_TOO_SLOW, close=True)
                body_done = True  # whatever is left of it, nobody waits for it
                return {"type": "http.disconnect"}
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request" and not answered:
                received += len(message.get("body", b""))
                if received > self.max_body_size and not started:
                    await answer(413, f"The request body exceeds {self.max_body_size} bytes.")
                    # Tell the app the client is gone, so it stops reading and responding.
                    return {"type": "http.disconnect"}
            return message

        declared = _header(scope, b"content-length")
        try:
            if self._host_refused(scope):
                await answer(400, HOST_NOT_ALLOWED)
            elif declared and declared.isdigit() and int(declared) > self.max_body_size:
                await answer(413, f"The request body exceeds {self.max_body_size} bytes.")
            else:
                await self.app(scope, limited_receive, app_send)
        except Exception:  # noqa: BLE001 - the service's last line of defence, logged below
            # (Unless this middleware answered already: then the app only failed to read the
            # body it refused; or the client stopped reading.) The one place unexpected errors
            # are logged, with their traceback; the client gets a generic problem that reveals
            # nothing of them.
            if stalled:
                access_log.warning("client_stopped_reading", waited_s=self.send_timeout)
            elif not answered:
                error_log.exception("unhandled_exception")
                if not started:
                    await answer(500, SERVER_ERROR)
        finally:
            for cleanup in cleanups:
                try:
                    await cleanup()
                except Exception:  # noqa: BLE001 - the others still run
                    error_log.exception("request_cleanup_failed")
            access_log.info(
                "request",
                status=status,
                duration_ms=round((time.perf_counter() - start) * 1000, 2),
                client=_client(scope),
            )
        if answered and not body_done:
            await self._discard_body(receive, int(declared) if declared else None)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = valid_request_id(_header(scope, _REQUEST_ID_KEY)) or new_request_id()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, method="WEBSOCKET", path=scope["path"]
        )
        start = time.perf_counter()
        accepted = False
        refused_status = 403  # a close before accept; a denial response has its own status
        close_code: int | None = None  # the first close, from either side
        reading: asyncio.Future[Message] | None = None

        async def tracked_send(message: Message) -> None:
            nonlocal accepted, refused_status, close_code
            if message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.http.response.start":
                refused_status = message["status"]
            elif message["type"] == "websocket.close" and close_code is None:
                close_code = message.get("code", 1000)
                # granian sends no close frame while a receive is pending (the client would
                # see 1006 instead of the code): stop waiting for the client first.
                if reading is not None and not reading.done():
                    reading.cancel()
            await send(message)

        async def tracked_receive() -> Message:
            nonlocal reading, close_code
            if close_code is not None:  # the app closed: nothing more will come
                return {"type": "websocket.disconnect", "code": close_code}
            reading = asyncio.ensure_future(receive())
            try:
                message = await reading
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the app cancelled its own read
                return {"type": "websocket.disconnect", "code": close_code}
            if message["type"] == "websocket.disconnect" and close_code is None:
                close_code = message.get("code", 1005)
            return message

        try:
            if self._host_refused(scope):
                await tracked_send({"type": "websocket.close", "code": 1008})  # HTTP 403
            else:
                await self.app(scope, tracked_receive, tracked_send)
        except Exception:  # noqa: BLE001 - as for HTTP: logged, and the client gets no details
            error_log.exception("unhandled_exception")
            if close_code is None:
                # Before the handshake, a close is answered with HTTP 403; after it, 1011.
                with contextlib.suppress(Exception):
                    await tracked_send({"type": "websocket.close", "code": 1011})
        finally:
            access_log.info(
                "websocket",
                # 101: the handshake succeeded; else the status it was refused with.
                status=101 if accepted else refused_status,
                close_code=close_code if accepted else None,
                duration_ms=round((time.perf_counter() - start) * 1000, 2),
                client=_client(scope),
            )

    async def _discard_body(self, receive: Receive, declared: int | None) -> None:
        """Read and drop the rest of a refused body, within bounds.

        A client still sending its body when the 413 goes out may otherwise see the connection
        reset before it reads the answer. Past eight times the limit, or five seconds, the
        connection is left to close.
        """
        budget = 8 * self.max_body_size
        if declared is not None and declared > budget:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while budget > 0:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body"):
                        return
                    budget -= len(message.get("body", b""))
