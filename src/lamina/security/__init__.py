"""Authentication and request-level security: passwords, tokens, throttling, dependencies.

Wiring an application (``Users`` implements :class:`UserAccounts` over its own
repository)::

    tokens = TokenStore(db, ttl=timedelta(hours=1))
    auth = Authenticator(tokens)                       # token_url="/auth/token"
    app.include_router(auth_router(Users(db), authenticator=auth,
                                   registration_model=UserRegistration, user_model=UserOut,
                                   passwords=PasswordHasher(), throttle=LoginThrottle(db)))
    CurrentPrincipal = Annotated[Principal, Depends(auth.current_principal)]

- Passwords: Argon2id only (:class:`PasswordHasher`), hashed in worker threads.
- Tokens: opaque and random; only their SHA-256 is stored; they expire and
  can be revoked (:class:`TokenStore`).
- Logins: the same 401 and similar timing for an unknown user and a wrong
  password; limits per account and address and per address give 429 with
  ``Retry-After``, failures on an account from anywhere slow it down but never
  lock its owner out (:class:`LoginThrottle`); registrations are limited per
  address (:class:`RegistrationThrottle`). The counters live in the database:
  every worker and every restart sees them (:class:`RateLimits`).
- Errors are lamina domain errors (Unauthenticated 401, PermissionDenied 403,
  RateLimited 429, AlreadyExists 409), rendered as problem+json by
  :func:`lamina.api.install`.
"""

from lamina.security.account import Account, Username, accounts_repository
from lamina.security.accounts import RepositoryAccounts, demo_accounts, registration_schema
from lamina.security.app_with_accounts import app_with_accounts
from lamina.security.auth_router import (
    BAD_CREDENTIALS,
    Credentials,
    Password,
    PasswordHashUpdates,
    PasswordLogin,
    TokenResponse,
    UserAccounts,
    auth_router,
)
from lamina.security.dependencies import Authenticator, Principal, Ticket
from lamina.security.passwords import Argon2Parameters, PasswordHasher
from lamina.security.rate_limits import RateLimit, RateLimits, Window
from lamina.security.service_settings import ServiceSettings
from lamina.security.throttle import LoginAttempt, LoginThrottle, RegistrationThrottle, Slowdown
from lamina.security.tickets import IssuedTicket, StreamTickets
from lamina.security.tokens import AccessToken, IssuedToken, TokenStore, token_digest

__all__ = [
    "BAD_CREDENTIALS",
    "AccessToken",
    "Account",
    "Argon2Parameters",
    "Authenticator",
    "Credentials",
    "IssuedTicket",
    "IssuedToken",
    "LoginAttempt",
    "LoginThrottle",
    "Password",
    "PasswordHashUpdates",
    "PasswordHasher",
    "PasswordLogin",
    "Principal",
    "RateLimit",
    "RateLimits",
    "RegistrationThrottle",
    "RepositoryAccounts",
    "ServiceSettings",
    "Slowdown",
    "StreamTickets",
    "Ticket",
    "TokenResponse",
    "TokenStore",
    "UserAccounts",
    "Username",
    "Window",
    "accounts_repository",
    "app_with_accounts",
    "auth_router",
    "demo_accounts",
    "registration_schema",
    "token_digest",
]
