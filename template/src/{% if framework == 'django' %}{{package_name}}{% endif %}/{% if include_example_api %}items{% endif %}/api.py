"""HTTP routes of the items API, as specified in docs/contract.md (async ORM throughout)."""

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Path, Query, Router, Status
from ninja.errors import HttpError

from .models import Item
from .schemas import ItemCreate, ItemPage, ItemRead, ItemUpdate

MAX_ID = 2**63 - 1  # the largest BIGINT: anything above cannot name an item

router = Router(tags=["items"])


def not_found(item_id: int) -> HttpError:
    return HttpError(404, f"Item {item_id} does not exist.")


async def get_or_404(item_id: int) -> Item:
    try:
        return await Item.objects.aget(pk=item_id)
    except Item.DoesNotExist:
        raise not_found(item_id) from None


ItemId = Annotated[int, Path(ge=1, le=MAX_ID, description="The item's id.")]


@router.post("", response={201: ItemRead})
async def create_item(request: HttpRequest, response: HttpResponse, data: ItemCreate) -> Item:
    now = timezone.now()
    item = await Item.objects.acreate(**data.model_dump(), created_at=now, updated_at=now)
    response["Location"] = f"{request.path}/{item.pk}"
    return item


@router.get("", response=ItemPage)
async def list_items(
    request: HttpRequest,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> ItemPage:
    rows = Item.objects.order_by("id")[offset : offset + limit]
    items = [ItemRead.model_validate(item) async for item in rows]
    return ItemPage(items=items, total=await Item.objects.acount(), limit=limit, offset=offset)


@router.get(
    "/export",
    openapi_extra={
        "responses": {
            200: {"description": "One item a line.", "content": {"application/x-ndjson": {}}}
        }
    },
)
async def export_items(request: HttpRequest) -> StreamingHttpResponse:
    """Every item as newline-delimited JSON, streamed from a server-side cursor."""

    async def lines() -> AsyncIterator[bytes]:
        # aiterator() reads in chunks and keeps no result cache: memory stays flat however
        # large the table; if the client goes away, the generator and its cursor are closed.
        rows = Item.objects.order_by("id").aiterator(chunk_size=1000)
        async with aclosing(rows) as items:
            async for item in items:
                yield ItemRead.model_validate(item).model_dump_json().encode() + b"\n"

    return StreamingHttpResponse(lines(), content_type="application/x-ndjson")


@router.get("/{item_id}", response=ItemRead)
async def read_item(request: HttpRequest, item_id: ItemId) -> Item:
    return await get_or_404(item_id)


@router.patch("/{item_id}", response=ItemRead)
async def update_item(request: HttpRequest, item_id: ItemId, data: ItemUpdate) -> Item:
    # One UPDATE statement: a concurrent delete makes it match no row (404), never resurrects
    # the item as `save()` would by falling back to an INSERT.
    changes = data.model_dump(exclude_unset=True)
    if not await Item.objects.filter(pk=item_id).aupdate(**changes, updated_at=timezone.now()):
        raise not_found(item_id)
    return await get_or_404(item_id)


@router.delete("/{item_id}", response={204: None})
async def delete_item(request: HttpRequest, item_id: ItemId) -> Status[None]:
    deleted, _ = await Item.objects.filter(pk=item_id).adelete()
    if not deleted:
        raise not_found(item_id)
    return Status(204, None)
