"""Database errors the API answers as client errors or outages, recognised by code, never by
message."""

from collections.abc import Iterator

# SQLSTATE unique_violation (PostgreSQL); SQLite's extended codes for UNIQUE and PRIMARY KEY.
_PG_UNIQUE_VIOLATION = "23505"
_SQLITE_UNIQUE_CODES = {2067, 1555}
# SQLSTATEs of a database the service cannot use right now (PostgreSQL): the connection failed
# (class 08), the database does not exist (yet, or any more), too many connections, the server
# shutting down or starting.
_PG_UNAVAILABLE = {"3D000", "53300", "57P01", "57P02", "57P03"}


def _wrapped(error: BaseException | None) -> Iterator[BaseException]:
    """`error` and the driver errors it wraps: SQLAlchemy in `.orig`, Django in `__cause__`."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = getattr(error, "orig", None) or error.__cause__


def _pg_code(error: BaseException) -> str:
    return getattr(error, "sqlstate", None) or getattr(error, "pgcode", None) or ""


def is_unique_violation(error: BaseException | None) -> bool:
    """Whether `error`, or the driver error it wraps, is a refused duplicate value."""
    return any(
        _pg_code(cause) == _PG_UNIQUE_VIOLATION
        or getattr(cause, "sqlite_errorcode", None) in _SQLITE_UNIQUE_CODES
        for cause in _wrapped(error)
    )


def is_database_unavailable(error: BaseException | None) -> bool:
    """Whether `error`, or the driver error it wraps, says the database cannot be used now."""
    return any(
        _pg_code(cause).startswith("08") or _pg_code(cause) in _PG_UNAVAILABLE
        for cause in _wrapped(error)
    )
