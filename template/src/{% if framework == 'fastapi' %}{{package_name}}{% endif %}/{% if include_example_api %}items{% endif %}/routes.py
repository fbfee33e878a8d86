"""HTTP routes of the items API, as specified in docs/contract.md."""

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..db import SessionDep
from ..problems import JSON_REQUIRED, is_json_media_type
from . import service
from .models import Item
from .schemas import ItemCreate, ItemPage, ItemRead, ItemUpdate

MAX_ID = 2**63 - 1  # the largest BIGINT: anything above cannot name an item

ItemId = Annotated[int, Path(ge=1, le=MAX_ID, description="The item's id.")]


async def require_json(request: Request) -> None:
    """A write request's body must be JSON (415); an empty body is left to validation (422)."""
    if await request.body() and not is_json_media_type(request.headers.get("content-type")):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, JSON_REQUIRED)


router = APIRouter(prefix="/items", tags=["items"])


def not_found(item_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Item {item_id} does not exist.")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    dependencies=[Depends(require_json)],
)
async def create_item(
    data: ItemCreate, session: SessionDep, request: Request, response: Response
) -> Item:
    item = await service.create(session, data)
    response.headers["Location"] = request.url_for("read_item", item_id=item.id).path
    return item


@router.get("")
async def list_items(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> ItemPage:
    items, total = await service.page(session, limit, offset)
    return ItemPage(
        items=[ItemRead.model_validate(item) for item in items],
        total=total,
        limit=limit,
        offset=offset,
    )


class NDJSONResponse(StreamingResponse):
    """Streams newline-delimited JSON, and closes its iterator however the response ends.

    Starlette leaves the iterator suspended when the client disconnects; closing it here
    releases the database cursor, transaction and connection at once, not at garbage collection.
    """

    media_type = "application/x-ndjson"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if isinstance(self.body_iterator, AsyncGenerator):
                await self.body_iterator.aclose()


@router.get(
    "/export",
    response_class=NDJSONResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One item a line."}},
)
async def export_items(request: Request) -> NDJSONResponse:
    """Every item as newline-delimited JSON, streamed from the database cursor."""

    async def lines() -> AsyncIterator[bytes]:
        async with aclosing(service.export(request.app.state.sessionmaker)) as items:
            async for item in items:
                yield ItemRead.model_validate(item).model_dump_json().encode() + b"\n"

    return NDJSONResponse(lines())


@router.get("/{item_id}", response_model=ItemRead)
async def read_item(item_id: ItemId, session: SessionDep) -> Item:
    item = await service.get(session, item_id)
    if item is None:
        raise not_found(item_id)
    return item


@router.patch("/{item_id}", response_model=ItemRead, dependencies=[Depends(require_json)])
async def update_item(item_id: ItemId, data: ItemUpdate, session: SessionDep) -> Item:
    item = await service.update(session, item_id, data)
    if item is None:
        raise not_found(item_id)
    return item


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(item_id: ItemId, session: SessionDep) -> None:
    if not await service.delete(session, item_id):
        raise not_found(item_id)
