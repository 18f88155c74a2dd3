"""Opaque access tokens that expire and can be revoked.

A token is 32 random bytes (URL-safe base64, 43 characters) handed to the
client once. The database keeps only its SHA-256 (``lamina_access_tokens``),
so a copy of the table grants nothing. Every request resolves its token with
one primary-key read, so a revocation (logout, "sign out everywhere") takes
effect at once, in every process.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, insert, or_, select, update

from lamina.domain.entity import utcnow
from lamina.domain.errors import Unauthenticated
from lamina.persistence import Database, UnitOfWork
from lamina.persistence.connection import Connection
from lamina.persistence.tables import access_tokens
from lamina.persistence.types import UTCDateTime

TOKEN_BYTES = 32
"""Random bytes in each token (256 bits)."""
MAX_TOKEN_LENGTH = 256
"""Longer strings are refused without a database read."""
DEFAULT_TOKEN_TTL = timedelta(hours=1)

_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 scope-token
_MAX_SCOPES_LENGTH = 1000
_DIGESTS_PER_QUERY = 1000
_t = access_tokens.c


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of ``token``: what the database stores in its place."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just issued: ``token`` is shown to the client once and never stored."""

    token: str
    user_id: UUID
    scopes: frozenset[str]
    expires_at: datetime
    expires_in: int
    """Seconds from issue to expiry."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """What a valid token stands for: its user and scopes, and when it expires."""

    digest: str
    user_id: UUID
    scopes: frozenset[str]
    issued_at: datetime
    expires_at: datetime


class TokenStore:
    """Issues, resolves and revokes access tokens in ``lamina_access_tokens``.

    ``ttl`` is the default lifetime of a token; ``clock`` (aware UTC) decides
    expiry, so tests can move time. Single writes run on their own connection
    (each statement is atomic); :meth:`revoke_all` can join a unit of work.
    """

    def __init__(
        self,
        db: Database,
        *,
        ttl: timedelta = DEFAULT_TOKEN_TTL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("a token lifetime must be positive")
        self.db = db
        self.ttl = ttl
        self.clock = clock

    async def issue(
        self, user_id: UUID, scopes: Iterable[str] = (), *, ttl: timedelta | None = None
    ) -> IssuedToken:
        """A new token for ``user_id`` with ``scopes``, valid for ``ttl`` (default ``self.ttl``)."""
        lifetime = ttl if ttl is not None else self.ttl
        if lifetime <= timedelta(0):
            raise ValueError("a token lifetime must be positive")
        granted = frozenset(scopes)
        encoded_scopes = _encode_scopes(granted)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        row = {
            "token_hash": token_digest(token),
            "user_id": user_id,
            "issued_at": now,
            "scopes": encoded_scopes,
            "expires_at": now + lifetime,
            "revoked_at": None,
        }
        stmt = self.db.statements.get(("lamina", "tokens", "insert"), _build_insert)
        async with self.db.connection() as conn:
            await stmt.execute(conn, row)
        return IssuedToken(
            token=token,
            user_id=user_id,
            scopes=granted,
            expires_at=now + lifetime,
            expires_in=int(lifetime.total_seconds()),
        )

    async def resolve(self, token: str) -> AccessToken:
        """What ``token`` grants; raises :class:`Unauthenticated` if unknown, expired or revoked."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("the access token is not valid")
        return await self.resolve_digest(token_digest(token))

    async def resolve_digest(self, digest: str) -> AccessToken:
        """What the token whose SHA-256 is ``digest`` grants (as :meth:`resolve`)."""
        stmt = self.db.statements.get(("lamina", "tokens", "resolve"), _build_resolve)
        async with self.db.connection() as conn:
            rows = await stmt.fetch(conn, {"token_hash": digest})
        if not rows:
            raise Unauthenticated("the access token is not valid")
        row = rows[0]
        if row["revoked_at"] is not None:
            raise Unauthenticated("the access token was revoked")
        if row["expires_at"] <= self.clock():
            raise Unauthenticated("the access token has expired")
        return AccessToken(
            digest=digest,
            user_id=row["user_id"],
            scopes=frozenset(row["scopes"].split()),
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
        )

    async def invalid_among(self, digests: Collection[str]) -> set[str]:
        """Those of ``digests`` whose tokens are no longer valid: revoked, expired or unknown.

        One query per thousand digests; made for ``EventStreams(credentials=...)``,
        which asks it about the tokens of the open streams every few seconds.
        """
        wanted = list(dict.fromkeys(digests))
        valid: set[str] = set()
        async with self.db.connection() as conn:
            for start in range(0, len(wanted), _DIGESTS_PER_QUERY):
                part = wanted[start : start + _DIGESTS_PER_QUERY]
                stmt = self.db.statements.get(
                    ("lamina", "tokens", "valid_among", len(part)),
                    lambda size=len(part): _build_valid_among(size),  # type: ignore[misc]
                )
                params = {f"d{i}": digest for i, digest in enumerate(part)}
                rows = await stmt.fetch(conn, {**params, "now": self.clock()})
                valid.update(row["token_hash"] for row in rows)
        return set(wanted) - valid

    async def revoke(self, token: str) -> bool:
        """Revoke ``token`` (logout); False if it was unknown or already revoked."""
        return await self.revoke_digest(token_digest(token))

    async def revoke_digest(self, digest: str) -> bool:
        """Revoke the token whose SHA-256 is ``digest`` (see :attr:`AccessToken.digest`)."""
        stmt = self.db.statements.get(("lamina", "tokens", "revoke"), _build_revoke)
        async with self.db.connection() as conn:
            changed = await stmt.execute(conn, {"token_hash": digest, "now": self.clock()})
        return changed > 0

    async def revoke_all(self, user_id: UUID, *, within: UnitOfWork | None = None) -> int:
        """Revoke every live token of ``user_id`` ("sign out everywhere", password change).

        With ``within``, the revocation commits (or not) with that unit of work.
        Returns how many tokens were revoked.
        """
        stmt = self.db.statements.get(("lamina", "tokens", "revoke_all"), _build_revoke_all)
        async with self._connection(within) as conn:
            return await stmt.execute(conn, {"user_id": user_id, "now": self.clock()})

    async def purge(self, *, older_than: timedelta = timedelta(0)) -> int:
        """Delete tokens that expired or were revoked more than ``older_than`` ago.

        Housekeeping for a periodic job; returns how many rows were deleted.
        """
        stmt = self.db.statements.get(("lamina", "tokens", "purge"), _build_purge)
        async with self.db.connection() as conn:
            return await stmt.execute(conn, {"cutoff": self.clock() - older_than})

    @asynccontextmanager
    async def _connection(self, within: UnitOfWork | None) -> AsyncIterator[Connection]:
        if within is not None:
            if within.db is not self.db:
                raise ValueError("the unit of work belongs to another Database")
            async with within.connection() as conn:
                yield conn
        else:
            async with self.db.connection() as conn:
                yield conn


def _encode_scopes(scopes: frozenset[str]) -> str:
    for scope in scopes:
        if _SCOPE.fullmatch(scope) is None:
            raise ValueError(f"invalid scope {scope!r}: printable ASCII, no spaces or quotes")
    encoded = " ".join(sorted(scopes))
    if len(encoded) > _MAX_SCOPES_LENGTH:
        raise ValueError(f"the scopes of a token take at most {_MAX_SCOPES_LENGTH} characters")
    return encoded


def _now_param() -> Any:
    return bindparam("now", type_=UTCDateTime())


def _build_insert() -> Any:
    return insert(access_tokens).values(
        {c.name: bindparam(c.name, type_=c.type) for c in access_tokens.c}
    )


def _build_resolve() -> Any:
    return select(_t.user_id, _t.scopes, _t.issued_at, _t.expires_at, _t.revoked_at).where(
        _t.token_hash == bindparam("token_hash")
    )


def _build_valid_among(size: int) -> Any:
    return select(_t.token_hash).where(
        _t.token_hash.in_([bindparam(f"d{i}") for i in range(size)]),
        _t.revoked_at.is_(None),
        _t.expires_at > _now_param(),
    )


def _build_revoke() -> Any:
    return (
        update(access_tokens)
        .where(_t.token_hash == bindparam("token_hash"), _t.revoked_at.is_(None))
        .values(revoked_at=_now_param())
    )


def _build_revoke_all() -> Any:
    return (
        update(access_tokens)
        .where(
            _t.user_id == bindparam("user_id"),
            _t.revoked_at.is_(None),
            _t.expires_at > _now_param(),
        )
        .values(revoked_at=_now_param())
    )


def _build_purge() -> Any:
    cutoff = bindparam("cutoff", type_=UTCDateTime())
    return delete(access_tokens).where(or_(_t.expires_at < cutoff, _t.revoked_at < cutoff))
