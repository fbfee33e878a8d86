"""Reading the database in the event loop, for what the async ORM does not cover."""

from collections.abc import AsyncIterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.db.models import Model, QuerySet


async def stream_rows[M: Model](rows: QuerySet[M], batch: int = 1000) -> AsyncIterator[M]:
    """The rows of `rows` from a server-side cursor, `batch` rows per trip to the ORM's thread.

    The cursor is closed however the iteration ends (exhausted, or the generator closed when a
    client goes away), in the thread that opened it: Django's `aiterator()` leaves its cursor to
    the garbage collector, which closes it later from whatever thread it runs in.
    """
    cursor = rows.iterator(chunk_size=batch)  # keeps no result cache: memory stays flat
    fetch = sync_to_async(lambda: list(islice(cursor, batch)))
    try:
        while chunk := await fetch():
            for row in chunk:
                yield row
    finally:
        await sync_to_async(cursor.close)()
