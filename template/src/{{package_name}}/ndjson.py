"""Newline-delimited JSON (one object per line), for the responses that stream many rows.

Rows are sent in chunks of about 64 KiB: a chunk per row would cost one network write (and one
trip through the server) per row; a chunk of many rows keeps memory flat all the same.
"""

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from .middleware import at_request_end

MEDIA_TYPE = "application/x-ndjson"
CHUNK_SIZE = 65_536  # bytes
RETRY_AFTER = 5  # seconds a client refused for lack of a stream slot is asked to wait


def ndjson_content(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI content of a stream of `model`s, one a line (`model` must be a schema of
    the document: the body or the response of a route).

    OpenAPI 3.2 names a line's schema `itemSchema`; the document is OpenAPI 3.1, which the
    generators read, so it says so with the extension `x-itemSchema`, and the body itself is
    text (a generator hands it over as such, or as bytes: see docs/contract.md).
    """
    name = model.__name__
    body = {"type": "string", "description": f"Newline-delimited JSON: one {name} a line."}
    return {MEDIA_TYPE: {"schema": body, "x-itemSchema": {"$ref": f"#/components/schemas/{name}"}}}


class Busy(Exception):
    """Every stream slot of this worker is taken."""


class Slots:
    """At most `limit` streams at a time in this worker; one more is refused, not queued.

    A stream holds a database connection for as long as its client reads: without a cap, a few
    slow clients would take every connection of the pool, and the service would stop answering.
    """

    def __init__(self) -> None:
        self.taken = 0

    @contextmanager
    def hold(self, limit: int) -> Iterator[None]:
        if self.taken >= limit:
            raise Busy
        self.taken += 1
        try:
            yield
        finally:
            self.taken -= 1


EXPORTS = Slots()  # the streamed exports of this worker (one event loop per worker process)


async def started(stream: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    """`stream`, run at once up to its first chunk, so that what it refuses at its start (no
    slot: `Busy`) is raised here, before the response begins; it resumes where it stopped.

    However the response ends, `stream` is closed with the request (its slot, cursor and
    connection released), even if the framework abandons the response halfway.
    """
    first = await anext(stream, b"")
    at_request_end(stream.aclose)
    return _resume(first, stream)


async def _resume(first: bytes, stream: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


async def ndjson_chunks(rows: AsyncIterable[Any], schema: type[BaseModel]) -> AsyncIterator[bytes]:
    """Each row as `schema` writes it, one a line, gathered into chunks."""
    validate = schema.model_validate
    chunk = bytearray()
    async for row in rows:
        chunk += validate(row).model_dump_json().encode()
        chunk += b"\n"
        if len(chunk) >= CHUNK_SIZE:
            yield bytes(chunk)
            chunk.clear()
    if chunk:
        yield bytes(chunk)
