"""The domain layer: entities, value objects, events, context and errors.

Pure Python and Pydantic: nothing here imports SQLAlchemy or FastAPI.
"""

from lamina.domain.context import EventContext, replace_context, use_context
from lamina.domain.editors_only import has_editors_only, hide_editors_only
from lamina.domain.email import EmailAddress
from lamina.domain.entity import (
    EDITORS_ONLY,
    ENCRYPTED,
    MASK,
    READ_ONLY,
    SENSITIVE,
    SERVER_OWNED,
    ActorTracked,
    Entity,
    References,
    SoftDeletable,
    StandardEntity,
    Timestamped,
    ValueObject,
    Versioned,
    utcnow,
)
from lamina.domain.errors import (
    AlreadyExists,
    Conflict,
    ConstraintViolated,
    DecryptionFailed,
    DomainError,
    EncryptionKeyMissing,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReferenceMissing,
    Unauthenticated,
    Unavailable,
    VersionConflict,
)
from lamina.domain.events import DomainEvent, EntityErased, EventPriority
from lamina.domain.ids import uuid7, uuid7_batch
from lamina.domain.masking import ShowLast
from lamina.domain.secret_keys import SECRET_PLACEHOLDER, SecretConfiguration, SecretKey
from lamina.domain.text import Slug, slugify

__all__ = [
    "EDITORS_ONLY",
    "ENCRYPTED",
    "MASK",
    "READ_ONLY",
    "SECRET_PLACEHOLDER",
    "SENSITIVE",
    "SERVER_OWNED",
    "ActorTracked",
    "AlreadyExists",
    "Conflict",
    "ConstraintViolated",
    "DecryptionFailed",
    "DomainError",
    "DomainEvent",
    "EmailAddress",
    "EncryptionKeyMissing",
    "Entity",
    "EntityErased",
    "EventContext",
    "EventPriority",
    "FieldError",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ReferenceMissing",
    "References",
    "SecretConfiguration",
    "SecretKey",
    "ShowLast",
    "Slug",
    "SoftDeletable",
    "StandardEntity",
    "Timestamped",
    "Unauthenticated",
    "Unavailable",
    "ValueObject",
    "VersionConflict",
    "Versioned",
    "has_editors_only",
    "hide_editors_only",
    "replace_context",
    "slugify",
    "use_context",
    "utcnow",
    "uuid7",
    "uuid7_batch",
]
