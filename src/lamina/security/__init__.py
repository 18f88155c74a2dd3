"""Authentication and request-level security: passwords, tokens, throttling, dependencies.

Wiring an application (``Users`` implements :class:`UserAccounts` over its own
repository)::

    tokens = TokenStore(db, ttl=timedelta(hours=1))
    auth = Authenticator(tokens)                       # token_url="/auth/token"
    app.include_router(auth_router(Users(db), authenticator=auth,
                                   registration_model=UserRegistration, user_model=UserOut,
                                   passwords=PasswordHasher(), throttle=LoginThrottle()))
    CurrentPrincipal = Annotated[Principal, Depends(auth.current_principal)]

- Passwords: Argon2id only (:class:`PasswordHasher`), hashed in worker threads.
- Tokens: opaque and random; only their SHA-256 is stored; they expire and
  can be revoked (:class:`TokenStore`).
- Logins: the same 401 and similar timing for an unknown user and a wrong
  password; per-account and per-address limits give 429 with ``Retry-After``
  (:class:`LoginThrottle`).
- Errors are lamina domain errors (Unauthenticated 401, PermissionDenied 403,
  RateLimited 429, AlreadyExists 409), rendered as problem+json by
  :func:`lamina.api.install`.
"""

from lamina.security.auth_router import (
    BAD_CREDENTIALS,
    Credentials,
    Password,
    PasswordHashUpdates,
    TokenResponse,
    UserAccounts,
    auth_router,
)
from lamina.security.dependencies import Authenticator, Principal
from lamina.security.passwords import Argon2Parameters, PasswordHasher
from lamina.security.throttle import LoginAttempt, LoginThrottle, RateLimit
from lamina.security.tokens import AccessToken, IssuedToken, TokenStore, token_digest

__all__ = [
    "BAD_CREDENTIALS",
    "AccessToken",
    "Argon2Parameters",
    "Authenticator",
    "Credentials",
    "IssuedToken",
    "LoginAttempt",
    "LoginThrottle",
    "Password",
    "PasswordHashUpdates",
    "PasswordHasher",
    "Principal",
    "RateLimit",
    "TokenResponse",
    "TokenStore",
    "UserAccounts",
    "auth_router",
    "token_digest",
]
