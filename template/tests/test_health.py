"""Liveness and readiness, including readiness while the database is unreachable."""

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from httpx import AsyncClient

Restore = Callable[[], Awaitable[None]]
Outage = Callable[[], AbstractAsyncContextManager[tuple[AsyncClient, Restore]]]


async def test_live(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_ready_reports_database_outage_and_recovers(database_outage: Outage) -> None:
    async with database_outage() as (client, restore):
        down = await client.get("/health/ready")
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["detail"] == "The database is unavailable."
        assert (await client.get("/health/live")).status_code == 200

        await restore()  # the database comes back: readiness recovers without a restart
        for _ in range(60):  # a connection pool may take a moment to reconnect
            if (await client.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("readiness did not recover within 15 s")
