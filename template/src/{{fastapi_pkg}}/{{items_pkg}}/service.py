"""Data access for items: the only module that queries the `items` table.

Updates and deletes are single statements (`UPDATE/DELETE ... RETURNING`), so that a request
racing another one on the same item finds it gone (None: a 404) rather than failing halfway.
"""

from collections.abc import AsyncIterator, Sequence

from anyio import CancelScope
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db import utcnow
from .models import Item
from .schemas import ItemCreate, ItemUpdate

EXPORT_BATCH = 1000  # rows fetched from the cursor at once


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


async def export(
    sessions: async_sessionmaker[AsyncSession], idle_timeout: float
) -> AsyncIterator[Item]:
    """Every item, in id order, straight from a database cursor: memory stays flat.

    The stream has its own session, open as long as the response streams; if the client goes
    away, the generator is closed and so are the cursor, the transaction and the session.
    PostgreSQL also ends the transaction itself if it stays idle `idle_timeout` seconds: a
    guard, should a stream ever be left open.
    """
    session = sessions()
    result = None
    try:
        if session.get_bind().dialect.name == "postgresql":
            limit = f"'{round(idle_timeout * 1000)}ms'"
            await session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {limit}"))
        statement = select(Item).order_by(Item.id).execution_options(yield_per=EXPORT_BATCH)
        result = await session.stream_scalars(statement)
        while True:
            # A batch at a time: one trip through SQLAlchemy's async bridge per batch. A client
            # that goes away cancels the response; shielded, a fetch is never cut in the
            # middle (SQLAlchemy would drop the connection, and aiosqlite's dropped connection
            # keeps its read transaction open): the cancellation lands at the next `yield`.
            with CancelScope(shield=True):
                batch = await result.fetchmany(EXPORT_BATCH)
            if not batch:
                break
            for item in batch:
                yield item
                session.expunge(item)  # keep the identity map from growing with the table
    finally:
        # Shielded too: every await of a cancelled task is cancelled again. The cursor is
        # closed first: SQLite keeps the read transaction of an unfinished cursor open, even
        # after the rollback that returns its connection to the pool.
        with CancelScope(shield=True):
            if result is not None:
                await result.close()
            await session.close()


async def update(session: AsyncSession, item_id: int, data: ItemUpdate) -> Item | None:
    changes = {**data.model_dump(exclude_unset=True), "updated_at": utcnow()}
    statement = sql_update(Item).where(Item.id == item_id).values(changes).returning(Item)
    item = await session.scalar(statement, execution_options={"synchronize_session": False})
    await session.commit()
    return item


async def delete(session: AsyncSession, item_id: int) -> bool:
    deleted = await session.scalar(sql_delete(Item).where(Item.id == item_id).returning(Item.id))
    await session.commit()
    return deleted is not None
