"""Database engine, sessions and the declarative base (async SQLAlchemy 2.1)."""

import importlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from .settings import Settings

# Deterministic constraint names, so that Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def load_models() -> MetaData:
    """Import every `models` module of the service, so that `Base.metadata` holds every table.

    The migrations (autogenerate included) and the tests need all models, not only those some
    route imports: a resource package's `models.py` (or a top-level `models.py`) is found here
    without being listed anywhere.
    """
    root = Path(__file__).parent
    for path in sorted([*root.glob("models.py"), *root.glob("*/models.py")]):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        importlib.import_module(f"{__package__}.{module}")
    return Base.metadata


# 64-bit ids; SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite stores no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite" or url.get_driver_name() == "asyncpg":
        connect_args["timeout"] = settings.db_timeout  # both drivers take seconds
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args=connect_args)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if url.database and url.database != ":memory:":
            _watch_sqlite_file(engine, url.database)
        return engine
    # pre_ping replaces connections the server dropped (a restart, a failover).
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _watch_sqlite_file(engine: AsyncEngine, path: str) -> None:
    """Give up a pooled connection whose database file was moved, replaced or removed.

    An open SQLite connection keeps its file even after the file disappears from its path: it
    would go on answering (and writing) as if nothing happened. Each checkout compares the file
    at `path` with the one the connection opened, so every request (and the readiness probe)
    finds out at once; the pool then opens a new connection, which fails if the file is gone.
    """

    file = Path(path)

    def identity() -> tuple[int, int] | None:
        try:
            stat = file.stat()
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def remember(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["sqlite_file"] = identity()

    def verify(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        current = identity()
        if current is None or current != record.info.get("sqlite_file"):
            msg = f"the SQLite file {path} was moved, replaced or removed"
            raise DisconnectionError(msg)

    event.listen(engine.sync_engine, "connect", remember)
    event.listen(engine.sync_engine, "checkout", verify)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers work during a write; the busy timeout queues concurrent writers
    # instead of failing them with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit, without an implicit (and, in
    # async code, forbidden) lazy refresh when the response is serialized.
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, closed when the response is done."""
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def migrate(database_url: str, revision: str = "head") -> None:
    """Upgrade the database schema with the migrations shipped in the package."""
    # Alembic announces each of its plugins at INFO as it loads them: noise on every migrate.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Imported here: the server's workers never need Alembic.
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, revision)
