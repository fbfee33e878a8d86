"""Data access for items: the only module that queries the `items` table."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from .models import Item
from .schemas import ItemCreate, ItemUpdate


async def create(session: AsyncSession, data: ItemCreate) -> Item:
    now = utcnow()
    item = Item(**data.model_dump(), created_at=now, updated_at=now)
    session.add(item)
    await session.commit()
    return item


async def get(session: AsyncSession, item_id: int) -> Item | None:
    return await session.get(Item, item_id)


async def page(session: AsyncSession, limit: int, offset: int) -> tuple[Sequence[Item], int]:
    total = await session.scalar(select(func.count()).select_from(Item))
    rows = await session.scalars(select(Item).order_by(Item.id).limit(limit).offset(offset))
    return rows.all(), total or 0


async def update(session: AsyncSession, item: Item, data: ItemUpdate) -> Item:
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(item, field, value)
    item.updated_at = utcnow()
    await session.commit()
    return item


async def delete(session: AsyncSession, item: Item) -> None:
    await session.delete(item)
    await session.commit()
