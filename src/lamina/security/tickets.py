"""Stream tickets: how a browser opens a live stream, since ``EventSource`` sends no header.

The page asks for a ticket with its bearer token (``POST /events/ticket``) and
opens ``new EventSource("/events?ticket=...")``. A ticket is random, valid for
a few seconds and good for one stream: redeeming it marks it used in the same
statement that checks it, so a second use (a replayed URL, a copy in a proxy
log) is refused. The stream then runs as the access token the ticket was made
from, so logging that token out ends the stream as it would a header-opened
one. Only a SHA-256 of each ticket is stored (``lamina_stream_tickets``); the
access token itself never appears in a URL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update

from lamina.domain.errors import Unauthenticated
from lamina.persistence.tables import stream_tickets
from lamina.persistence.types import UTCDateTime
from lamina.security.tokens import MAX_TOKEN_LENGTH, AccessToken, TokenStore, token_digest

DEFAULT_TICKET_TTL = timedelta(seconds=30)
TICKET_BYTES = 32
_t = stream_tickets.c
_REFUSED = "the stream ticket is not valid: unknown, already used or expired"


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    """A ticket just issued (shown once, never stored) and its lifetime in seconds."""

    ticket: str
    expires_in: int


class StreamTickets:
    """Issues and redeems single-use stream tickets for the tokens of ``tokens``."""

    def __init__(self, tokens: TokenStore, *, ttl: timedelta = DEFAULT_TICKET_TTL) -> None:
        if ttl <= timedelta(0):
            raise ValueError("a ticket lifetime must be positive")
        self.tokens = tokens
        self.ttl = ttl

    async def issue(self, token_digest_of_caller: str) -> IssuedTicket:
        """A ticket standing for the access token whose SHA-256 is ``token_digest_of_caller``
        (a ``Principal``'s ``token_digest``)."""
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        db = self.tokens.db
        stmt = db.statements.get(("lamina", "tickets", "insert"), _build_insert)
        row = {
            "ticket_hash": token_digest(ticket),
            "token_hash": token_digest_of_caller,
            "expires_at": self.tokens.clock() + self.ttl,
            "used_at": None,
        }
        async with db.connection() as conn:
            await stmt.execute(conn, row)
        return IssuedTicket(ticket, int(self.ttl.total_seconds()))

    async def redeem(self, ticket: str) -> AccessToken:
        """The access token ``ticket`` stands for, marking the ticket used.

        Raises :class:`~lamina.domain.Unauthenticated` for a ticket that is
        unknown, used or expired, or whose token was revoked or has expired.
        """
        if not ticket or len(ticket) > MAX_TOKEN_LENGTH:
            raise Unauthenticated(_REFUSED)
        db = self.tokens.db
        params = {"ticket_hash": token_digest(ticket), "now": self.tokens.clock()}
        use = db.statements.get(("lamina", "tickets", "use"), _build_use)
        read = db.statements.get(("lamina", "tickets", "token_of"), _build_token_of)
        async with db.connection() as conn:
            if await use.execute(conn, params) != 1:
                raise Unauthenticated(_REFUSED)
            rows = await read.fetch(conn, params)
        return await self.tokens.resolve_digest(rows[0]["token_hash"])

    async def purge(self) -> int:
        """Delete tickets that expired or were used (housekeeping); how many were deleted."""
        db = self.tokens.db
        stmt = db.statements.get(("lamina", "tickets", "purge"), _build_purge)
        async with db.connection() as conn:
            return await stmt.execute(conn, {"now": self.tokens.clock()})


def _now() -> Any:
    return bindparam("now", type_=UTCDateTime())


def _build_insert() -> Any:
    return insert(stream_tickets).values(
        {c.name: bindparam(c.name, type_=c.type) for c in stream_tickets.c}
    )


def _build_use() -> Any:
    return (
        update(stream_tickets)
        .where(
            _t.ticket_hash == bindparam("ticket_hash"),
            _t.used_at.is_(None),
            _t.expires_at > _now(),
        )
        .values(used_at=_now())
    )


def _build_token_of() -> Any:
    return select(_t.token_hash).where(_t.ticket_hash == bindparam("ticket_hash"))


def _build_purge() -> Any:
    return delete(stream_tickets).where(or_(_t.expires_at <= _now(), _t.used_at.is_not(None)))
