"""Register, log in (OAuth2 password flow), log out and "me", over an application's own users.

The router owns no user table: the application implements :class:`UserAccounts`
over its own entity and repository, and keeps the Argon2 hash the router
hands it. Routes (paths configurable; the token path is the
:class:`Authenticator`'s ``token_url``, so /docs "Authorize" finds it)::

    POST /auth/register   JSON body of the registration model → 201 user (409 on a duplicate,
                          429 when the address registered too often)
    POST /auth/token      OAuth2 password form → 200 {access_token, token_type, expires_in}
                          401 on bad credentials, 429 (with Retry-After) when throttled
    POST /auth/logout     → 204, the presented token is revoked
    GET  /users/me        → the user of the token

Include it without a prefix: ``app.include_router(auth_router(...))``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Form, Request, Response
from pydantic import BaseModel, Field, SecretStr

from lamina.api.problems import problem_responses
from lamina.domain.errors import Unauthenticated
from lamina.security.dependencies import Authenticator, Principal
from lamina.security.passwords import PasswordHasher
from lamina.security.throttle import LoginThrottle, RegistrationThrottle

BAD_CREDENTIALS = "incorrect username or password"
"""The one answer to every failed login: unknown user and wrong password look alike."""

Password = Annotated[SecretStr, Field(min_length=8, max_length=256)]
"""A new password in a registration model: 8-256 characters, write-only in OpenAPI."""

RegistrationT_contra = TypeVar("RegistrationT_contra", bound=BaseModel, contravariant=True)
UserT_co = TypeVar("UserT_co", bound=BaseModel, covariant=True)
RegistrationT = TypeVar("RegistrationT", bound=BaseModel)
UserT = TypeVar("UserT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What logging in needs to know of a user: its id, password hash and grantable scopes."""

    user_id: UUID
    password_hash: str
    scopes: frozenset[str] = field(default_factory=frozenset)


class UserAccounts(Protocol[RegistrationT_contra, UserT_co]):
    """The application's side of authentication, over its own user repository."""

    async def find_credentials(self, username: str) -> Credentials | None:
        """The credentials of the user named ``username`` (as typed at login), or None.

        Return None for users that may not log in (disabled, deleted) too.
        """
        ...

    async def create_user(self, registration: RegistrationT_contra, password_hash: str) -> UserT_co:
        """Store a new user with ``password_hash`` (never ``registration.password``).

        Raise :class:`~lamina.domain.AlreadyExists` naming the field on a
        duplicate (a repository does this for unique columns).
        """
        ...

    async def load_user(self, user_id: UUID) -> UserT_co | None:
        """The user as ``GET /users/me`` shows it, or None if it no longer exists."""
        ...


@runtime_checkable
class PasswordHashUpdates(Protocol):
    """Optional: implement it on :class:`UserAccounts` to upgrade outdated hashes at login."""

    async def replace_password_hash(self, user_id: UUID, password_hash: str) -> None:
        """Store ``password_hash`` as the user's hash (same password, current parameters)."""
        ...


class PasswordLogin(BaseModel):
    """The form of ``POST /auth/token``: the OAuth2 password grant (RFC 6749 §4.3.2).

    What /docs "Authorize" sends; unlike FastAPI's ``OAuth2PasswordRequestForm``
    its OpenAPI says exactly what is accepted (no empty names, no nulls in a form).
    """

    grant_type: Literal["password"] = "password"
    username: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    scope: Annotated[str, Field(max_length=1000)] = ""
    """Space-separated scopes asked for (all the user may have when empty)."""
    client_id: Annotated[str, Field(max_length=200)] = ""
    client_secret: Annotated[str, Field(max_length=200)] = ""

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


class TokenResponse(BaseModel):
    """An OAuth2 access token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    """Seconds until the token expires."""
    scope: str | None = None
    """Space-separated scopes granted, when there are any."""


def auth_router(
    accounts: UserAccounts[RegistrationT, UserT],
    *,
    authenticator: Authenticator,
    registration_model: type[RegistrationT] | None = None,
    user_model: type[UserT] | None = None,
    passwords: PasswordHasher | None = None,
    throttle: LoginThrottle | None = None,
    registrations: RegistrationThrottle | None = None,
    register_path: str = "/auth/register",
    logout_path: str = "/auth/logout",
    me_path: str = "/users/me",
    tags: Sequence[str] = ("auth",),
) -> APIRouter:
    """The register / token / logout / me routes over ``accounts``.

    ``registration_model`` is the JSON body of registration and must have a
    ``password`` field (``str`` or ``SecretStr``; :data:`Password` adds length
    rules); give it ``extra="forbid"`` so unknown fields are refused.
    ``user_model`` is what register and me return. Both default to the
    ``registration_model`` and ``user_model`` attributes of ``accounts``
    (:class:`RepositoryAccounts` derives them from the user entity). ``passwords`` defaults to
    :class:`PasswordHasher` with its default cost, ``throttle`` and
    ``registrations`` to :class:`LoginThrottle` and :class:`RegistrationThrottle`
    with their default limits, on the tokens' database.
    """
    registration_model = registration_model or getattr(accounts, "registration_model", None)
    user_model = user_model or getattr(accounts, "user_model", None)
    if registration_model is None or user_model is None:
        raise TypeError("auth_router needs registration_model= and user_model= for these accounts")
    if "password" not in registration_model.model_fields:
        raise TypeError(f"{registration_model.__name__} needs a 'password' field")
    hasher = passwords or PasswordHasher()
    tokens = authenticator.tokens
    login_throttle = throttle or LoginThrottle(tokens.db)
    registration_throttle = registrations or RegistrationThrottle(tokens.db)
    current_principal = authenticator.current_principal
    router = APIRouter(tags=list(tags))

    async def register(request: Request, registration: BaseModel) -> Any:
        await registration_throttle.attempt(_address(request))
        password_hash = await hasher.hash(_password_of(registration))
        return await accounts.create_user(registration, password_hash)  # type: ignore[arg-type]

    _set_parameter_type(register, "registration", Annotated[registration_model, Body()])
    router.add_api_route(
        register_path,
        register,
        methods=["POST"],
        status_code=201,
        response_model=user_model,
        summary="Register a user",
        responses=problem_responses(400, 409, 422, 429),
    )

    async def issue_token(
        request: Request, response: Response, form: Annotated[PasswordLogin, Form()]
    ) -> TokenResponse:
        async with login_throttle.attempt(form.username, _address(request)) as attempt:
            credentials = await accounts.find_credentials(form.username)
            if credentials is None:
                await hasher.verify_unknown(form.password)
                raise Unauthenticated(BAD_CREDENTIALS)
            if not await hasher.verify(credentials.password_hash, form.password):
                raise Unauthenticated(BAD_CREDENTIALS)
            attempt.succeeded()
        if hasher.needs_rehash(credentials.password_hash) and isinstance(
            accounts, PasswordHashUpdates
        ):
            new_hash = await hasher.hash(form.password)
            await accounts.replace_password_hash(credentials.user_id, new_hash)
        granted = credentials.scopes & set(form.scopes) if form.scopes else credentials.scopes
        issued = await tokens.issue(credentials.user_id, granted)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return TokenResponse(
            access_token=issued.token,
            expires_in=issued.expires_in,
            scope=" ".join(sorted(issued.scopes)) or None,
        )

    router.add_api_route(
        authenticator.token_url,
        issue_token,
        methods=["POST"],
        response_model=TokenResponse,
        response_model_exclude_none=True,
        summary="Log in: exchange username and password for an access token",
        responses=problem_responses(400, 401, 422, 429),
    )

    async def logout(principal: Principal = Depends(current_principal)) -> Response:
        await tokens.revoke_digest(principal.token_digest)
        return Response(status_code=204)

    router.add_api_route(
        logout_path,
        logout,
        methods=["POST"],
        status_code=204,
        response_class=Response,
        summary="Log out: revoke the access token of this request",
        responses=problem_responses(401),
    )

    async def me(principal: Principal = Depends(current_principal)) -> Any:
        user = await accounts.load_user(principal.user_id)
        if user is None:
            raise Unauthenticated("the user of this access token no longer exists")
        return user

    router.add_api_route(
        me_path,
        me,
        methods=["GET"],
        response_model=user_model,
        summary="The user of the access token",
        responses=problem_responses(401),
    )
    return router


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _password_of(registration: BaseModel) -> str:
    value = getattr(registration, "password", None)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, str):
        return value
    raise TypeError("the registration model's 'password' must be a str or SecretStr")


def _set_parameter_type(endpoint: Callable[..., Any], name: str, annotation: Any) -> None:
    """Give ``endpoint``'s parameter ``name`` a type known only at run time (for FastAPI)."""
    signature = inspect.signature(endpoint)
    parameters = [
        p.replace(annotation=annotation) if p.name == name else p
        for p in signature.parameters.values()
    ]
    endpoint.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
