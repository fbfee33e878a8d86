"""Database errors the API answers as client errors, recognised by code, never by message."""

# SQLSTATE unique_violation (PostgreSQL); SQLite's extended codes for UNIQUE and PRIMARY KEY.
_PG_UNIQUE_VIOLATION = "23505"
_SQLITE_UNIQUE_CODES = {2067, 1555}


def is_unique_violation(error: BaseException | None) -> bool:
    """Whether `error`, or the driver error it wraps, is a refused duplicate value.

    ORMs wrap the driver's exception: SQLAlchemy in `.orig`, Django in `__cause__`.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        codes = (getattr(error, "sqlstate", None), getattr(error, "pgcode", None))
        if _PG_UNIQUE_VIOLATION in codes:
            return True
        if getattr(error, "sqlite_errorcode", None) in _SQLITE_UNIQUE_CODES:
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False
