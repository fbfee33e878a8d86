"""Liveness and readiness, including readiness while the database is unreachable."""

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from httpx import AsyncClient


async def test_live(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_ready_reports_database_outage_and_recovers(
    unavailable_database: tuple[str, Callable[[], Awaitable[None]]],
    app_for: Callable[[str], FastAPI],
    serve: Callable[[FastAPI], AbstractAsyncContextManager[AsyncClient]],
) -> None:
    url, bring_up = unavailable_database
    async with serve(app_for(url)) as client:
        down = await client.get("/health/ready")
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["detail"] == "The database is unavailable."
        assert (await client.get("/health/live")).status_code == 200

        await bring_up()  # the database comes back: readiness recovers without a restart
        assert (await client.get("/health/ready")).status_code == 200
