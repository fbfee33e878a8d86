"""Liveness and readiness probes."""

import asyncio

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, HttpResponse
from ninja import Router

from .errors import problem_response
from .probes import Live, Ready
from .problems import DATABASE_UNAVAILABLE, report_database_outage
from .settings import get_settings

router = Router(tags=["health"])


@router.get("/live", response=Live)
async def health_live(request: HttpRequest) -> Live:
    """The process is up and serving requests."""
    return Live(status="ok")


def _select_one() -> None:
    # No async cursor in Django: this runs in the ORM's thread, like the async ORM methods do.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connection.close()  # a broken connection must not be reused by the next request
        raise


@router.get("/ready", response=Ready)
async def health_ready(request: HttpRequest) -> Ready | HttpResponse:
    """The service can do its work: the database answers `SELECT 1`."""
    try:
        await asyncio.wait_for(sync_to_async(_select_one)(), timeout=get_settings().db_timeout)
    except Exception as error:  # noqa: BLE001 - whatever the cause, the database is unusable
        report_database_outage(error)
        return problem_response(request, 503, DATABASE_UNAVAILABLE)
    return Ready(status="ok", database="ok")
