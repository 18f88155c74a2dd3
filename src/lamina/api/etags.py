"""``ETag`` = the entity's version; ``If-Match`` names the version a write expects.

lamina's entity tags are **strong** (``"3"``, not ``W/"3"``): one version of a
resource has one representation of what clients write, and RFC 9110 compares
``If-Match`` tags strongly, so only strong tags can make a conditional write
succeed. Activity markers that ``Repository.touch`` moves (``touchable``
fields, such as a conversation's ``last_activity_at``) are the exception: they
change without a new version, so a client's ``If-Match`` survives others'
activity.

On PATCH and DELETE ``If-Match`` is required: without it the answer is 428
(precondition-required); with a stale version it is 412 and nothing is
written; with the current one the write happens and the response carries the
new ``ETag``. ``If-Match: *`` names no version, so it does not count as the
required precondition (428). A header that is not one strong tag of a version
(a weak tag, a list, garbage) is 400 invalid-input.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from lamina.api.problems import PreconditionRequired
from lamina.domain.errors import InvalidInput

IF_MATCH = "If-Match"
_STRONG_VERSION_TAG = re.compile(r'"(\d{1,18})"')
STRONG_TAG_PATTERN = '^"[0-9]{1,18}"$'
"""What an ``If-Match`` naming a version looks like (``"3"``), for OpenAPI."""
_OPTIONAL_TAG = '^(|\\*|"[0-9]{1,18}")$'
"""An optional ``If-Match``: a version, or ``*`` / empty for none."""


def etag(version: int) -> str:
    """The strong entity tag of ``version``: ``"3"``."""
    return f'"{version}"'


def expected_version(if_match: str | None) -> int:
    """The version an ``If-Match`` header names.

    Raises :class:`~lamina.api.PreconditionRequired` (428) when the header is
    missing, empty or ``*``, and :class:`~lamina.domain.InvalidInput` (400)
    when it is not a single strong tag such as ``"3"``.
    """
    value = (if_match or "").strip()
    if not value or value == "*":
        raise PreconditionRequired(
            'this request must carry If-Match with the ETag of the version it changes, e.g. "3"'
        )
    match = _STRONG_VERSION_TAG.fullmatch(value)
    if match is None:
        raise InvalidInput.for_field(
            IF_MATCH, 'must be one strong entity tag as sent in ETag, e.g. "3"'
        )
    return int(match.group(1))


def etag_header_doc(required: bool) -> dict[str, Any]:
    """OpenAPI ``headers`` entry documenting the ETag of a response."""
    return {
        "ETag": {
            "description": 'The version of the resource as a strong entity tag, e.g. "3".',
            "required": required,
            "schema": {"type": "string"},
        }
    }


def if_match_parameter_doc(required: bool) -> dict[str, Any]:
    """OpenAPI parameter documenting the If-Match header of a write."""
    text = 'The ETag of the version this request changes, e.g. "3". ' + (
        "Required: 428 without it, 412 (and nothing written) if the resource has moved on."
        if required
        else "Optional here; if given, 412 (and nothing written) when it is not current."
    )
    return {
        "name": IF_MATCH,
        "in": "header",
        "required": required,
        "schema": {"type": "string", "pattern": STRONG_TAG_PATTERN if required else _OPTIONAL_TAG},
        "description": text,
    }


async def required_version(request: Request) -> int:
    """Dependency: the version ``If-Match`` names (428 without it, 400 if malformed)."""
    return expected_version(request.headers.get(IF_MATCH))


async def optional_version(request: Request) -> int | None:
    """Dependency: the version ``If-Match`` names, or None when absent, empty or ``*``."""
    header = request.headers.get(IF_MATCH)
    if header is None or header.strip() in ("", "*"):
        return None
    return expected_version(header)


async def no_version() -> None:
    """Dependency of writes to unversioned resources: no precondition."""
