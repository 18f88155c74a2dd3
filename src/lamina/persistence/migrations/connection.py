"""Running migration work on a database given by its async URL, with clear failures."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from lamina.persistence.database import normalize_url
from lamina.persistence.migrations.config import MigrationError

CONNECT_TIMEOUT_SECONDS = 10

T = TypeVar("T")


async def on_connection(url: str, work: Callable[[Connection], T], *, app_configured: bool) -> T:
    """Run ``work`` with a sync ``Connection`` to ``url``, in one transaction.

    Connection failures, invalid URLs and failing statements become
    :class:`MigrationError` naming the database (without its password).
    """
    engine = _engine(url)
    shown = shown_url(url)
    async with _alembic_lock():
        return await _run(engine, shown, work, app_configured=app_configured)


async def _run(
    engine: AsyncEngine, shown: str, work: Callable[[Connection], T], *, app_configured: bool
) -> T:
    try:
        try:
            connection = await engine.connect()
        except (OSError, TimeoutError, SQLAlchemyError) as error:
            raise MigrationError(f"cannot connect to {shown}: {_reason(error)}") from error
        try:
            async with connection.begin():
                return await connection.run_sync(work)
        except MigrationError as error:
            if not app_configured and "Can't locate revision" in str(error):
                raise MigrationError(
                    f"{error} (the database has revisions that are not lamina's: configure the "
                    "application's migrations folder)"
                ) from error
            raise
        except SQLAlchemyError as error:
            raise MigrationError(f"migration failed on {shown}: {_reason(error)}") from error
        finally:
            await connection.close()
    finally:
        await engine.dispose()


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _alembic_lock() -> asyncio.Lock:
    """One command at a time per event loop: Alembic's ``context`` and ``op`` are globals,
    so two environments running in interleaved greenlets would clobber each other."""
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


def _engine(url: str) -> AsyncEngine:
    try:
        url = normalize_url(url).render_as_string(hide_password=False)
        return create_async_engine(
            url,
            poolclass=NullPool,
            connect_args={"timeout": CONNECT_TIMEOUT_SECONDS} if "+asyncpg" in url else {},
        )
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise MigrationError(
            f"invalid database URL {shown_url(url)}: {error} "
            "(use an async URL such as sqlite+aiosqlite:///./app.db or postgresql+asyncpg://...)"
        ) from error


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None)
    reason = original if isinstance(original, BaseException) else error
    return f"{type(reason).__name__}: {reason}".strip()
