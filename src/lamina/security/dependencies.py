"""FastAPI dependencies: who is calling (from the bearer token), and may they do this.

>>> auth = Authenticator(TokenStore(db), scopes={"admin": "manage everything"})
>>> CurrentPrincipal = Annotated[Principal, Depends(auth.current_principal)]
>>>
>>> @app.get("/orders")
... async def orders(principal: CurrentPrincipal) -> list[OrderOut]: ...
>>>
>>> @app.delete("/users/{id}", dependencies=[auth.require_scopes("admin")])
... async def remove_user(id: UUID) -> None: ...

Resolving a principal also makes its user the actor of the request's
:class:`~lamina.domain.EventContext`, so audit entries, actor columns and
events of the request name who did it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.params import Security as SecurityParam
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from pydantic import BaseModel

from lamina.api.request_context import update_request_context
from lamina.domain.errors import PermissionDenied, Unauthenticated
from lamina.events.live import Credential
from lamina.security.tickets import StreamTickets
from lamina.security.tokens import MAX_TOKEN_LENGTH, TokenStore

_PRINCIPAL_STATE = "lamina_principal"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user, the scopes its token grants, and that token."""

    user_id: UUID
    scopes: frozenset[str]
    expires_at: datetime
    token_digest: str
    """SHA-256 of the bearer token (for :meth:`TokenStore.revoke_digest`); never the token."""

    @property
    def credential(self) -> Credential:
        """The token as a live stream's credential: the stream ends when it is revoked or
        expires (``EventStreams(credentials=TokenStore.invalid_among)``)."""
        return Credential(self.token_digest, self.expires_at)


class Ticket(BaseModel):
    """A stream ticket: open ``GET /events?ticket=...`` within ``expires_in`` seconds, once."""

    ticket: str
    expires_in: int


PrincipalDependency = Callable[..., Awaitable[Principal]]
OptionalPrincipalDependency = Callable[..., Awaitable[Principal | None]]


class Authenticator:
    """Turns ``Authorization: Bearer <token>`` into a :class:`Principal`.

    ``token_url`` is where clients (and /docs "Authorize") get tokens: the
    path :func:`~lamina.security.auth_router` serves the OAuth2 password flow
    on. ``scopes`` (name → description) are those tokens can carry; /docs
    offers them in its Authorize dialog.
    """

    def __init__(
        self,
        tokens: TokenStore,
        *,
        token_url: str = "/auth/token",
        scopes: Mapping[str, str] | None = None,
        tickets: StreamTickets | None = None,
    ) -> None:
        self.tokens = tokens
        self.tickets = tickets or StreamTickets(tokens)
        """The single-use tickets browsers open live streams with (see ``tickets.py``)."""
        self.token_url = token_url
        self.scopes: dict[str, str] = dict(scopes or {})
        self.scheme = OAuth2PasswordBearer(tokenUrl=token_url, scopes=self.scopes, auto_error=False)
        self.current_principal: PrincipalDependency = self._current_principal_dependency()
        """Dependency: the caller, or 401 (missing, unknown, expired or revoked token).

        Used through ``Security(auth.current_principal, scopes=[...])`` it also
        checks scopes (403 when one is missing), as :meth:`require_scopes` does.
        """
        self.stream_principal: PrincipalDependency = self._stream_dependency()
        """Dependency of live-stream routes: the caller by bearer token, or by a single-use
        ``?ticket=`` (browsers' ``EventSource`` cannot send headers). A ticket is refused
        (401) when unknown, used, expired, or sent with another user's bearer token.
        """
        self.optional_principal: OptionalPrincipalDependency = self._optional_dependency()
        """Dependency: the caller, or None for a request without ``Authorization`` (an
        anonymous reader); credentials that are sent must be a valid token (401 otherwise).

        A :class:`~lamina.service.Service` made for None serves reads only (its
        scope decides what anonymous callers see); its writes answer 401.
        """

    def require_scopes(self, *scopes: str) -> SecurityParam:
        """Dependency: the caller, who must hold every one of ``scopes`` (else 403).

        Usable as a parameter default or in ``dependencies=[...]``; the scopes
        show in the operation's OpenAPI security requirement.
        """
        unknown = [scope for scope in scopes if scope not in self.scopes]
        if unknown:
            raise ValueError(f"scopes {unknown} are not declared on this Authenticator")
        return SecurityParam(dependency=self.current_principal, scopes=list(scopes))

    def _stream_dependency(self) -> PrincipalDependency:
        current = self.current_principal
        tickets = self.tickets

        async def stream_principal(
            request: Request,
            security_scopes: SecurityScopes,
            token: str | None = Depends(self.scheme),
            ticket: str | None = Query(
                None,
                max_length=MAX_TOKEN_LENGTH,
                description="A single-use stream ticket (POST /events/ticket), for browsers.",
            ),
        ) -> Principal:
            if ticket is None:
                return await current(request, security_scopes, token)
            access = await tickets.redeem(ticket)
            if token:
                bearer = await current(request, security_scopes, token)
                if bearer.user_id != access.user_id:
                    raise Unauthenticated("the stream ticket belongs to another user")
            principal = Principal(
                user_id=access.user_id,
                scopes=access.scopes,
                expires_at=access.expires_at,
                token_digest=access.digest,
            )
            setattr(request.state, _PRINCIPAL_STATE, principal)
            update_request_context(actor_id=principal.user_id)
            return await current(request, security_scopes, None)  # checks the scopes

        return stream_principal

    def ticket_router(self, path: str = "/events/ticket", **route: Any) -> APIRouter:
        """A router with ``POST {path}``: a single-use ticket for the caller's next stream,
        ``{"ticket": ..., "expires_in": seconds}`` (``route``: more ``add_api_route`` options)."""
        router = APIRouter()
        tickets = self.tickets

        async def issue_ticket(principal: Principal = Depends(self.current_principal)) -> Ticket:
            issued = await tickets.issue(principal.token_digest)
            return Ticket(ticket=issued.ticket, expires_in=issued.expires_in)

        router.add_api_route(
            path,
            issue_ticket,
            methods=["POST"],
            response_model=Ticket,
            summary="A single-use ticket to open a live stream from a browser",
            operation_id="issue_stream_ticket",
            **route,
        )
        return router

    def _optional_dependency(self) -> OptionalPrincipalDependency:
        current = self.current_principal

        async def optional_principal(
            request: Request,
            security_scopes: SecurityScopes,
            token: str | None = Depends(self.scheme),
        ) -> Principal | None:
            if not token and "authorization" not in request.headers:
                return None
            return await current(request, security_scopes, token)

        return optional_principal

    def _current_principal_dependency(self) -> PrincipalDependency:
        tokens = self.tokens

        async def current_principal(
            request: Request,
            security_scopes: SecurityScopes,
            token: str | None = Depends(self.scheme),
        ) -> Principal:
            principal = getattr(request.state, _PRINCIPAL_STATE, None)
            if not isinstance(principal, Principal):
                if not token:
                    raise Unauthenticated("this request needs a bearer access token")
                access = await tokens.resolve(token)
                principal = Principal(
                    user_id=access.user_id,
                    scopes=access.scopes,
                    expires_at=access.expires_at,
                    token_digest=access.digest,
                )
                setattr(request.state, _PRINCIPAL_STATE, principal)
                update_request_context(actor_id=principal.user_id)
            missing = sorted(set(security_scopes.scopes) - principal.scopes)
            if missing:
                raise PermissionDenied(f"this needs the scope(s): {', '.join(missing)}")
            return principal

        return current_principal
