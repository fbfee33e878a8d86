"""Liveness and readiness probes."""

import asyncio

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .errors import problem_response

router = APIRouter(prefix="/health", tags=["health"])
logger = structlog.get_logger(__name__)


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up and serving requests."""
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(request: Request) -> dict[str, str] | Response:
    """The service can do its work: the database answers `SELECT 1`."""
    settings = request.app.state.settings
    try:
        async with asyncio.timeout(settings.db_timeout):
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        # A warning without traceback: probes repeat every few seconds while the database is down.
        logger.warning("database_unavailable", error=f"{type(error).__name__}: {error}")
        return problem_response(request, 503, "The database is unavailable.")
    return {"status": "ok", "database": "ok"}
