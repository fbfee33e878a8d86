"""Liveness and readiness probes."""

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .errors import problem_response
from .probes import Live, Ready
from .problems import DATABASE_UNAVAILABLE, report_database_outage

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def health_live() -> Live:
    """The process is up and serving requests."""
    return Live(status="ok")


@router.get("/ready", response_model=Ready)
async def health_ready(request: Request) -> Ready | Response:
    """The service can do its work: the database answers `SELECT 1`."""
    settings = request.app.state.settings
    try:
        async with asyncio.timeout(settings.db_timeout):
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        report_database_outage(error)
        return problem_response(request, 503, DATABASE_UNAVAILABLE)
    return Ready(status="ok", database="ok")
