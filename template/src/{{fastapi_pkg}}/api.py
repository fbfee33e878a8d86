"""What the routes of every resource share: JSON write bodies, streamed NDJSON responses."""

from collections.abc import AsyncGenerator

from fastapi import HTTPException, Request, status
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .ndjson import MEDIA_TYPE
from .problems import JSON_REQUIRED, is_json_media_type


async def require_json(request: Request) -> None:
    """A write request's body must be JSON (415); an empty body is left to validation (422).

    A route dependency: `@router.post(..., dependencies=[Depends(require_json)])`.
    """
    if await request.body() and not is_json_media_type(request.headers.get("content-type")):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, JSON_REQUIRED)


class NDJSONResponse(StreamingResponse):
    """Streams newline-delimited JSON, and closes its iterator however the response ends.

    Starlette leaves the iterator suspended when the client disconnects; closing it here
    releases the database cursor, transaction and connection at once, not at garbage collection.
    """

    media_type = MEDIA_TYPE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if isinstance(self.body_iterator, AsyncGenerator):
                await self.body_iterator.aclose()
