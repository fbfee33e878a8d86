"""Newline-delimited JSON (one object per line), for the responses that stream many rows.

Rows are sent in chunks of about 64 KiB: a chunk per row would cost one network write (and one
trip through the server) per row; a chunk of many rows keeps memory flat all the same.
"""

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from pydantic import BaseModel

MEDIA_TYPE = "application/x-ndjson"
CHUNK_SIZE = 65_536  # bytes


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
