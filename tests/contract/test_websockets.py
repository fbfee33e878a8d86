"""The WebSocket limits of docs/contract.md, attacked over real sockets against the served
service of each framework (the realtime variants the build tier installs; Django with Redis, for
its channel layer): oversized messages and a continuation flood, a ping flood, more connections
than a worker holds, and as many leaving at once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import harness
from harness import Server, Variant

pytestmark = pytest.mark.contract

VARIANTS = [
    Variant(framework="fastapi", realtime=True, broker="memory"),
    Variant(framework="django", realtime=True, broker="redis"),
]
MAX_MESSAGE_SIZE = 4096  # the default, left as it is
PING_LIMIT = 5  # in a window longer than any test: the sixth ping closes
MAX_CONNECTIONS = 200  # per worker; the services run one
FLOOD = 40 * 2**20  # bytes of continuation frames
TIMEOUT = 15  # seconds for anything awaited: an answer, not a measurement
REDIS = ("127.0.0.1", 6379)


@dataclass
class Served:
    server: Server
    variant: Variant
    redis_prefix: str  # of its channel layer's keys (Django with Redis)

    @property
    def url(self) -> str:
        return self.server.url.replace("http://", "ws://") + "/ws/items"


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: f"{v.framework}-{v.broker}")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The variant's service, one worker, for the module; its log checked at the end."""
    variant: Variant = request.param
    project = harness.installed(variant)  # shared with the build tier's test of these answers
    logs = tmp_path_factory.mktemp(f"websockets-{variant.framework}")
    with harness.database(variant.database, logs / "db", prefix="cps_ws") as database:
        env = harness.service_env(
            project,
            database.url(variant.framework),
            workers="1",
            ws_ping_limit=str(PING_LIMIT),
            ws_ping_window="600",
            ws_max_connections=str(MAX_CONNECTIONS),
            redis_prefix=f"cps-ws-{uuid.uuid4().hex[:8]}",  # ignored without Redis
        )
        harness.run(project.path, project.bin("my-service"), "migrate", env=env)
        service = harness.serve(project, env, logs / "service.log").start()
        try:
            yield Served(service, variant, env["MY_SERVICE_REDIS_PREFIX"])
        finally:
            assert service.stop() == 0
        # Every line it wrote was JSON, and no attack made it write a traceback.
        failures = [
            record
            for record in service.records()
            if "exception" in record or record.get("level") in ("error", "critical")
        ]
        assert not failures, failures[:3]
        assert "Traceback" not in service.output()


def live(service: Server) -> int:
    return httpx.get(f"{service.url}/health/live", timeout=5, trust_env=False).status_code


async def closed_with(feed: ClientConnection) -> int | None:
    """Read `feed` until the server closes it; the close code it sent (None: no close frame)."""
    async with asyncio.timeout(TIMEOUT):
        try:
            while True:
                await feed.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


class RawWebSocket:
    """A client that writes frames as it likes: fragments, any size, masked with zeros (the
    payload goes as is, which the server cannot tell from a random mask)."""

    def __init__(self, service: Server) -> None:
        self.sock = socket.create_connection(("127.0.0.1", service.port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws/items HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.received = b""
        while b"\r\n\r\n" not in self.received:
            self.received += self.sock.recv(4096)
        assert self.received.startswith(b"HTTP/1.1 101"), self.received

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        size = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if size < 126:
            head += bytes([0x80 | size])
        elif size < 2**16:
            head += bytes([0x80 | 126]) + size.to_bytes(2)
        else:
            head += bytes([0x80 | 127]) + size.to_bytes(8)
        self.sock.sendall(head + bytes(4) + payload)

    def close_code(self) -> int | None:
        """Read until the server closes: the code of its close frame (None: none came)."""
        with contextlib.suppress(OSError):
            while chunk := self.sock.recv(65536):
                self.received += chunk
        self.sock.close()
        frames = self.received.partition(b"\r\n\r\n")[2]
        while len(frames) >= 2:  # the server's frames: unmasked, small
            opcode, size = frames[0] & 0x0F, frames[1] & 0x7F
            if opcode == 0x8:
                return int.from_bytes(frames[2:4]) if size >= 2 else None
            offset = 2 if size < 126 else 4 if size == 126 else 10
            length = size if size < 126 else int.from_bytes(frames[2:offset])
            frames = frames[offset + length :]
        return None


def test_a_message_over_the_limit_closes_with_1009_unparsed(served: Served) -> None:
    async def attack() -> None:
        # Valid JSON, a ping even, but one byte too many: refused before it is parsed.
        padded = '{"event":"ping","pad":"' + "x" * MAX_MESSAGE_SIZE + '"}'
        async with connect(served.url, max_size=None) as feed:
            await feed.send(padded)
            assert await closed_with(feed) == 1009
        async with connect(served.url) as feed:
            await feed.send(b"\x00" * (MAX_MESSAGE_SIZE + 1))  # binary too
            assert await closed_with(feed) == 1009
        async with connect(served.url) as feed:  # multi-byte: the limit is in bytes
            await feed.send("é" * (MAX_MESSAGE_SIZE // 2 + 1))
            assert await closed_with(feed) == 1009

    asyncio.run(attack())
    served.server.wait_for_output('"websocket_message_too_big"', count=3, timeout=TIMEOUT)


def test_a_continuation_flood_closes_with_1009_and_memory_comes_back(served: Served) -> None:
    service = served.server
    before = service.rss()
    flood = RawWebSocket(service)
    chunk = b"x" * 2**20
    with contextlib.suppress(OSError):  # the server may close before the last fragment
        for number in range(FLOOD // len(chunk)):
            last = number == FLOOD // len(chunk) - 1
            flood.send_frame(0x0 if number else 0x1, chunk, fin=last)
    assert flood.close_code() == 1009
    assert live(served.server) == 200
    # granian (tungstenite) assembles a message before the application sees it, up to 64 MiB:
    # the peak is its buffer. What must not happen is the worker keeping the message (Django
    # did, until the garbage collector ran: +68 MiB after one flood; now +8 to +29 MiB).
    grown = service.rss() - before
    assert grown < FLOOD, f"RSS grew by {grown / 2**20:.0f} MiB after the flood"


async def pings(served: Served, count: int) -> tuple[int | None, int]:
    """Send `count` pings at once, reading nothing meanwhile; then read until the server
    closes: the close code it sent (1006: none arrived) and the pongs that came before."""
    async with connect(served.url) as feed:
        for _ in range(count):
            try:
                await feed.send('{"event":"ping"}')
            except ConnectionClosed:
                break
        pongs = 0
        async with asyncio.timeout(TIMEOUT):
            with contextlib.suppress(ConnectionClosed):
                async for message in feed:
                    pongs += message == '{"event":"pong"}'
        return feed.close_code, pongs


def test_pings_beyond_the_limit_close_with_1008(served: Served) -> None:
    assert asyncio.run(pings(served, PING_LIMIT + 1)) == (1008, PING_LIMIT)
    # A flood: no pong is queued past the limit. granian stops reading at its close, and a
    # client still sending then is reset: the close frame may be lost to it (1006).
    code, pongs = asyncio.run(pings(served, 1000))
    assert code in (1008, 1006)
    assert pongs <= PING_LIMIT
    served.server.wait_for_output('"websocket_too_many_pings"', count=2, timeout=TIMEOUT)
    assert live(served.server) == 200


def redis_zcard(key: str) -> int:
    """Members of a sorted set, asked of Redis in its own protocol (RESP)."""
    with socket.create_connection(REDIS, timeout=5) as sock:
        parts = [b"ZCARD", key.encode()]
        sock.sendall(b"*2\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        answer = sock.recv(64)
    assert answer.startswith(b":"), answer
    return int(answer[1:].split(b"\r\n")[0])


def test_connections_beyond_the_cap_get_503_and_all_leaving_at_once_leaves_none(
    served: Served,
) -> None:
    async def attack() -> None:
        url = served.url
        opened = await asyncio.gather(*(connect(url) for _ in range(MAX_CONNECTIONS)))
        try:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url):
                    pass
            response = refused.value.response
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "5"
            assert b"Too many WebSocket connections are open" in response.body
            assert await asyncio.to_thread(live, served.server) == 200
        finally:
            await asyncio.gather(*(feed.close() for feed in opened))  # all at once
        # Each connection's access line is written once the service let it go.
        await asyncio.to_thread(
            served.server.wait_for_output, '"close_code": 1000', MAX_CONNECTIONS, TIMEOUT
        )
        async with connect(url) as feed:  # the places are free again
            await feed.send('{"event":"ping"}')
            assert await feed.recv() == '{"event":"pong"}'

    asyncio.run(attack())
    served.server.wait_for_output('"websocket_connections_full"', timeout=TIMEOUT)
    served.server.wait_for_output('"status": 503', timeout=TIMEOUT)  # the access line says it
    if served.variant.broker == "redis":
        # Every consumer left the Channels group: no member is left behind in Redis.
        assert redis_zcard(f"{served.redis_prefix}:group:items") == 0
