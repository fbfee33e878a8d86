"""`DATABASE_URL` to Django's DATABASES entry (sqlite:///path or postgresql://user@host/name)."""

from typing import Any
from urllib.parse import unquote, urlsplit

from ..settings import ENV_PREFIX, ConfigurationError


def database_from_url(url: str, timeout: float) -> dict[str, Any]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path[1:]) if parts.path.startswith("/") else parts.path,
            "OPTIONS": {
                "timeout": timeout,
                # Writers take the lock when their transaction starts instead of failing with
                # "database is locked" when they upgrade; WAL lets readers work meanwhile.
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if scheme in {"postgres", "postgresql"}:
        from psycopg_pool import ConnectionPool  # noqa: PLC0415 - installed with PostgreSQL only

        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            # Django's psycopg pool; persistent connections must stay off with a pool.
            "CONN_MAX_AGE": 0,
            "OPTIONS": {
                "connect_timeout": max(1, round(timeout)),
                # `check` tests a pooled connection before handing it out, so that one broken
                # by a database restart is replaced instead of failing a request.
                "pool": {
                    "min_size": 1,
                    "max_size": 10,
                    "timeout": timeout,
                    "check": ConnectionPool.check_connection,
                },
            },
        }
    msg = f"{ENV_PREFIX}DATABASE_URL: scheme {parts.scheme!r} unknown: use sqlite:/// or postgresql://"
    raise ConfigurationError(msg)
