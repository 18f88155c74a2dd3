"""The typed errors every layer raises and the API maps to problem+json.

Each class has a stable ``code`` (it becomes the ``type`` of an RFC 9457
problem document) and carries structured details rather than only a message,
so callers can react without parsing text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ValidationError


class DomainError(Exception):
    """Base of every error lamina raises on purpose."""

    code: ClassVar[str] = "domain-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, Any]:
        """Structured, client-safe details of this error (no secrets, no SQL)."""
        return {}


class NotFound(DomainError):
    """No (visible) entity of this type has this id."""

    code = "not-found"

    def __init__(self, entity: str, id: object | None = None, message: str | None = None) -> None:
        self.entity = entity
        self.id = id
        default = f"{entity} {id} not found" if id is not None else f"{entity} not found"
        super().__init__(message or default)

    def details(self) -> dict[str, Any]:
        return {"entity": self.entity, "id": None if self.id is None else str(self.id)}


class Conflict(DomainError):
    """The request conflicts with the current state (for example, already ended)."""

    code = "conflict"


class AlreadyExists(Conflict):
    """A uniqueness rule would be broken; ``fields`` names the columns involved."""

    code = "already-exists"

    def __init__(self, entity: str, fields: Sequence[str], message: str | None = None) -> None:
        self.entity = entity
        self.fields = tuple(fields)
        names = ", ".join(self.fields) or "a unique field"
        super().__init__(message or f"{entity} with the same {names} already exists")

    def details(self) -> dict[str, Any]:
        return {"entity": self.entity, "fields": list(self.fields)}


class VersionConflict(DomainError):
    """The entity changed since it was read: the write was refused and nothing written."""

    code = "version-conflict"

    def __init__(self, entity: str, id: object, expected: int, actual: int | None) -> None:
        self.entity = entity
        self.id = id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{entity} {id} is at version {actual}, not the expected version {expected}"
        )

    def details(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "id": str(self.id),
            "expected_version": self.expected,
            "actual_version": self.actual,
        }


class ReferenceMissing(DomainError):
    """A referenced entity does not exist (a foreign key would be broken)."""

    code = "reference-missing"

    def __init__(self, entity: str, fields: Sequence[str] = (), message: str | None = None) -> None:
        self.entity = entity
        self.fields = tuple(fields)
        target = ", ".join(self.fields) or "a reference"
        super().__init__(message or f"{entity}: {target} refers to something that does not exist")

    def details(self) -> dict[str, Any]:
        return {"entity": self.entity, "fields": list(self.fields)}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field; ``field`` is a dotted path ("" for the whole input)."""

    field: str
    message: str


CONSEQUENTIAL_ERROR = "default_factory_not_called"
"""The Pydantic error of a field whose default is made from others that were invalid: it
follows from their errors, so it is not reported."""


class InvalidInput(DomainError):
    """The input is malformed or breaks a rule; ``errors`` says what, per field."""

    code = "invalid-input"

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        self.errors = tuple(errors)
        super().__init__(message)

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> InvalidInput:
        """An error listing every problem of a Pydantic validation error, per field."""
        errors = [
            FieldError(".".join(str(p) for p in e["loc"]), e["msg"])
            for e in exc.errors()
            if e["type"] != CONSEQUENTIAL_ERROR
        ]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return cls(f"invalid values: {summary}", errors)

    @classmethod
    def for_field(cls, field: str, message: str) -> InvalidInput:
        """An error about one field."""
        return cls(f"{field}: {message}", [FieldError(field, message)])

    def details(self) -> dict[str, Any]:
        return {"errors": [{"field": e.field, "message": e.message} for e in self.errors]}


class ConstraintViolated(InvalidInput):
    """The data breaks a rule declared on its table (a database CHECK constraint).

    ``constraint`` names the rule; ``errors`` has one entry for the field it
    covers when it covers one field (else none). Over HTTP it is a 422, as a
    rule Pydantic checks on that field would be.
    """

    def __init__(
        self, entity: str, constraint: str, fields: Sequence[str] = (), message: str | None = None
    ) -> None:
        self.entity = entity
        self.constraint = constraint
        broken = f"breaks the rule {constraint}"
        super().__init__(
            message or f"{entity}: the data {broken}", [FieldError(f, broken) for f in fields]
        )

    def details(self) -> dict[str, Any]:
        return {**super().details(), "entity": self.entity, "constraint": self.constraint}


class PermissionDenied(DomainError):
    """The actor may not do this."""

    code = "permission-denied"


class Unauthenticated(DomainError):
    """No valid credentials were presented (missing, wrong, expired or revoked)."""

    code = "unauthenticated"


class RateLimited(DomainError):
    """Too many attempts; try again after ``retry_after`` seconds."""

    code = "rate-limited"

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class Unavailable(DomainError):
    """A dependency (usually the database) is unreachable; safe to retry later."""

    code = "unavailable"

    def __init__(
        self, message: str = "service temporarily unavailable", retry_after: int = 1
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class EncryptionKeyMissing(DomainError):
    """A value is stored under key ``key_id`` and the keyring holds no such key (or
    there is no active key to encrypt with: ``key_id`` is None). Never answered with
    garbage: restore the key in the configuration (G17)."""

    code = "encryption-key-missing"

    def __init__(self, key_id: str | None, message: str | None = None) -> None:
        self.key_id = key_id
        super().__init__(
            message
            or (
                f"encryption key {key_id!r} is not in the keyring"
                if key_id is not None
                else "no active encryption key: configure LAMINA_KEYS"
            )
        )

    def details(self) -> dict[str, Any]:
        return {"key_id": self.key_id}


class DecryptionFailed(DomainError):
    """A stored encrypted value does not decrypt under its key ``key_id``: it was
    tampered with, or copied from another row or column (G17)."""

    code = "decryption-failed"

    def __init__(self, key_id: str | None, field: str, message: str | None = None) -> None:
        self.key_id = key_id
        self.field = field
        super().__init__(
            message
            or f"the stored value of {field} does not decrypt under key {key_id!r}: "
            "it was altered or moved from another row"
        )

    def details(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "field": self.field}
