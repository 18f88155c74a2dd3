"""``EmailAddress``: an email address checked for its form, with any domain.

Pydantic's ``EmailStr`` also refuses the ``.test`` domain, reserved for tests,
which an OpenAPI ``format: email`` does not rule out. This type accepts every
well-formed address there (still not ``.localhost``, ``.invalid`` and the other
special-use names), without looking the domain up, and keeps it as typed.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import MaxLen
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, WithJsonSchema


def _well_formed(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValueError(f"value is not a valid email address: {error}") from None
    return value


EmailAddress = Annotated[
    str,
    MaxLen(320),
    AfterValidator(_well_formed),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
]
"""A well-formed email address (``.test`` included; not looked up), at most 320 characters
(a ``String(320)`` column). Use as a field type."""
