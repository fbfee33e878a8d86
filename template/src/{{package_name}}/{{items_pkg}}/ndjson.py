"""The export's body: one item per line of JSON, sent in chunks of about 64 KiB.

A chunk per row would cost one network write (and one trip through the server) per row; a
chunk of many rows keeps memory flat all the same.
"""

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from .schemas import ItemRead

CHUNK_SIZE = 65_536  # bytes


async def ndjson_chunks(items: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    chunk = bytearray()
    async for item in items:
        chunk += ItemRead.model_validate(item).model_dump_json().encode()
        chunk += b"\n"
        if len(chunk) >= CHUNK_SIZE:
            yield bytes(chunk)
            chunk.clear()
    if chunk:
        yield bytes(chunk)
