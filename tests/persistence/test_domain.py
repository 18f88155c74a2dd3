"""The domain layer: frozen, validated entities; typed errors with details; no SQL imports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import pytest
from pydantic import Field, ValidationError

from lamina.domain import (
    READ_ONLY,
    SENSITIVE,
    SERVER_OWNED,
    ActorTracked,
    AlreadyExists,
    Conflict,
    DomainError,
    DomainEvent,
    Entity,
    EventContext,
    EventPriority,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReferenceMissing,
    SoftDeletable,
    Timestamped,
    Unauthenticated,
    Unavailable,
    ValueObject,
    VersionConflict,
    Versioned,
    use_context,
    uuid7,
    uuid7_batch,
)
from lamina.domain.ids import uuid_from_hex, uuid_hex, uuid_text


class Money(ValueObject):
    amount: Decimal = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)


class Account(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    owner: str = Field(min_length=1)
    balance: Money
    password_hash: Annotated[str, SENSITIVE] = ""
    opened_by: Annotated[str, READ_ONLY] = "system"


def _account() -> Account:
    return Account(owner="ann", balance=Money(amount=Decimal(10), currency="EUR"))


def test_evolve_returns_a_validated_copy_and_leaves_the_original_alone() -> None:
    account = _account()
    richer = account.evolve(balance=Money(amount=Decimal(20), currency="EUR"))
    assert richer.balance.amount == Decimal(20)
    assert account.balance.amount == Decimal(10)
    assert richer.id == account.id
    assert richer is not account
    renamed = account.evolve(owner="bob", balance={"amount": "3", "currency": "USD"})
    assert renamed.balance == Money(amount=Decimal(3), currency="USD")


def test_evolve_validates_every_change() -> None:
    account = _account()
    with pytest.raises(ValidationError):
        account.evolve(owner="")
    with pytest.raises(ValidationError):
        account.evolve(balance={"amount": "-1", "currency": "EUR"})
    with pytest.raises(ValidationError):
        account.evolve(version="many")
    with pytest.raises(TypeError, match="colour"):
        account.evolve(colour="red")
    assert account.owner == "ann"


def test_entities_and_value_objects_are_frozen_and_refuse_unknown_fields() -> None:
    account = _account()
    with pytest.raises(ValidationError):
        account.owner = "mallory"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        account.balance.amount = Decimal(0)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Account(owner="x", balance=account.balance, colour="red")  # type: ignore[call-arg]
    assert Money(amount=Decimal(1), currency="EUR") == Money(amount=Decimal(1), currency="EUR")
    assert hash(Money(amount=Decimal(1), currency="EUR"))


def test_entities_get_a_time_ordered_uuid7_and_aware_timestamps() -> None:
    first, second = _account(), _account()
    assert first.id.version == 7
    assert first.id < second.id
    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert first.created_at.tzinfo is not None
    assert abs(first.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert (first.version, first.deleted_at, first.created_by_id) == (1, None, None)


def test_a_batch_of_uuid7s_is_ordered_unique_and_continues_the_single_ones() -> None:
    before = uuid7()
    batch = uuid7_batch(10_000)
    after = uuid7()
    ids = [before, *batch, after]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {(u.version, u.variant) for u in batch} == {(7, "specified in RFC 4122")}
    assert all(UUID(str(u)) == u for u in batch[:50])
    assert uuid7_batch(0) == []


def test_a_forked_process_makes_other_uuid7s_than_its_parent() -> None:
    """Randomness is read ahead: a child must not reuse the bytes its parent read."""
    uuid7()  # the parent holds random bytes read ahead
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, sent to the parent
        os.write(writer, "".join(u.hex for u in [uuid7(), *uuid7_batch(3)]).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    child = [text[i : i + 32] for i in range(0, len(text), 32)]
    parent = [u.hex for u in [uuid7(), *uuid7_batch(3)]]
    assert len(child) == 4
    # the low 62 bits of each id are random: equal ones would mean shared randomness
    assert not {c[-15:] for c in child} & {p[-15:] for p in parent}


def test_fields_are_marked_for_persistence_and_schemas() -> None:
    assert Account.fields_marked(SERVER_OWNED) == {
        "id",
        "created_at",
        "updated_at",
        "deleted_at",
        "version",
        "created_by_id",
        "updated_by_id",
    }
    assert Account.fields_marked(SENSITIVE) == {"password_hash"}
    assert Account.fields_marked(READ_ONLY) == {"opened_by"}
    assert Account.__entity_name__ == "Account"


def test_every_error_has_a_stable_code_and_structured_details() -> None:
    some_id = UUID("01a203be-087d-7013-a7bc-2ddaeb430a62")
    errors: list[tuple[DomainError, str, dict[str, object]]] = [
        (NotFound("Account", some_id), "not-found", {"entity": "Account", "id": str(some_id)}),
        (
            AlreadyExists("Account", ["owner", "bank"]),
            "already-exists",
            {"entity": "Account", "fields": ["owner", "bank"]},
        ),
        (
            VersionConflict("Account", some_id, 2, 3),
            "version-conflict",
            {
                "entity": "Account",
                "id": str(some_id),
                "expected_version": 2,
                "actual_version": 3,
            },
        ),
        (
            ReferenceMissing("Account", ["bank_id"]),
            "reference-missing",
            {"entity": "Account", "fields": ["bank_id"]},
        ),
        (
            InvalidInput("bad", [FieldError("owner", "too short"), FieldError("", "whole")]),
            "invalid-input",
            {
                "errors": [
                    {"field": "owner", "message": "too short"},
                    {"field": "", "message": "whole"},
                ]
            },
        ),
        (PermissionDenied("no"), "permission-denied", {}),
        (Unauthenticated("who?"), "unauthenticated", {}),
        (RateLimited("slow down", retry_after=30), "rate-limited", {"retry_after": 30}),
        (Unavailable(), "unavailable", {"retry_after": 1}),
        (Conflict("already ended"), "conflict", {}),
    ]
    for error, code, details in errors:
        assert error.code == code
        assert error.details() == details
        assert str(error) == error.message
    assert len({code for _, code, _ in errors}) == len(errors)
    assert isinstance(AlreadyExists("A", ["x"]), Conflict)
    assert "owner, bank" in str(AlreadyExists("Account", ["owner", "bank"]))
    assert "version 3" in str(VersionConflict("Account", some_id, 2, 3))
    single = InvalidInput.for_field("owner", "required")
    assert single.errors == (FieldError("owner", "required"),)
    assert NotFound("Account").details() == {"entity": "Account", "id": None}


def test_the_event_context_is_set_per_block_and_restored() -> None:
    actor = uuid7()
    outer = EventContext.peek()  # current() would set one, for every later test too
    with use_context(actor_id=actor, correlation_id="req-1") as ctx:
        assert EventContext.current() is ctx
        assert (ctx.actor_id, ctx.correlation_id) == (actor, "req-1")
        with use_context(ctx.with_changes(causation_id="evt-9")) as inner:
            assert EventContext.current().causation_id == "evt-9"
            assert inner.actor_id == actor
        assert EventContext.current() is ctx
    assert EventContext.peek() is outer
    with pytest.raises(ValidationError):
        EventContext(actor_id="not-a-uuid")


class AccountOpened(
    DomainEvent, type="account.opened", version=2, stream="account_id", priority=EventPriority.HIGH
):
    account_id: UUID
    balance: Decimal


class Pinged(DomainEvent):
    note: str = ""


def test_domain_events_declare_type_version_stream_and_priority() -> None:
    account_id = uuid7()
    event = AccountOpened(account_id=account_id, balance=Decimal("1.5"))
    assert (AccountOpened.event_type, AccountOpened.schema_version) == ("account.opened", 2)
    assert AccountOpened.default_priority is EventPriority.HIGH
    assert event.stream_id == str(account_id)
    assert event.payload() == {"account_id": str(account_id), "balance": "1.5"}
    assert (Pinged.event_type, Pinged.schema_version, Pinged().stream_id) == ("Pinged", 1, "Pinged")
    with pytest.raises(ValidationError):
        event.balance = Decimal(0)  # type: ignore[misc]
    with pytest.raises(ValueError, match="starts at 1"):

        class Broken(DomainEvent, version=0):
            pass


def test_importing_the_domain_layer_imports_no_sqlalchemy_and_no_fastapi() -> None:
    code = (
        "import sys, lamina.domain\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'fastapi', 'starlette', 'asyncpg', 'aiosqlite'))\n"
        "bad += [m for m in sys.modules if m.startswith(('lamina.persistence', 'lamina.api'))]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    "text",
    [
        "01a204e548a4747aa3f2d4ba6058d493",
        "01A204E548A4747AA3F2D4BA6058D493",
        "01a204e5-48a4-747a-a3f2-d4ba6058d493",
        "{01a204e548a4747aa3f2d4ba6058d493}",
        "urn:uuid:01a204e5-48a4-747a-a3f2-d4ba6058d493",
        "-1a204e548a4747aa3f2d4ba6058d493",
        "+1a204e548a4747aa3f2d4ba6058d493",
        "01a204e548a4747aa3f2d4ba6058d49g",
        "01a204e548a4747aa3f2d4ba6058d49",
        "",
    ],
)
def test_uuid_text_conversions_agree_with_the_uuid_module(text: str) -> None:
    try:
        expected = UUID(text)
    except ValueError as refused:
        with pytest.raises(ValueError, match=re.escape(str(refused))):
            uuid_from_hex(text)
        return
    parsed = uuid_from_hex(text)
    assert parsed == expected
    assert parsed.is_safe == expected.is_safe
    assert uuid_hex(parsed) == parsed.hex
    assert uuid_text(parsed) == str(parsed)


def test_slugify_makes_url_safe_slugs() -> None:
    from lamina.domain import slugify

    assert slugify("Weekly Sync #3") == "weekly-sync-3"
    assert slugify("Café  au lait!") == "cafe-au-lait"
    assert slugify("日本", fallback="course") == "course"
    assert slugify("a b " * 50, max_length=10) == "a-b-a-b-a"
