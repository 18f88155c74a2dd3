"""Masking everywhere: a sensitive value a client sends appears in no log line, problem+json,
audit entry or event, whether the write succeeds or fails (issue 14, part 5)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field
from sqlalchemy import CheckConstraint, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import ApiSettings, install, provide_service, resource_router
from lamina.domain import (
    ENCRYPTED,
    MASK,
    SENSITIVE,
    DomainEvent,
    Entity,
    ShowLast,
    Timestamped,
    Versioned,
)
from lamina.persistence import (
    Database,
    Repository,
    StandardColumns,
    UnitOfWork,
    new_metadata,
)
from lamina.persistence.tables import audit_log, events
from lamina.service import Service

CARD = "4111222233334444"
"""The sensitive value every test sends; it must surface nowhere."""


class Rows(DeclarativeBase):
    metadata = new_metadata()


class CardRow(StandardColumns, Rows):
    __tablename__ = "mk_cards"
    __table_args__ = (CheckConstraint("length(number) = 16", name="number_length"),)
    holder: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(40), unique=True)


class Card(Timestamped, Versioned, Entity):
    holder: Annotated[str, Field(min_length=1, max_length=100)]
    number: Annotated[str, SENSITIVE, ShowLast(4), Field(max_length=40, pattern=r"^[0-9]+$")]


class CardAdded(DomainEvent, type="test.card_added", stream="holder"):
    holder: str
    number: Annotated[str, SENSITIVE]


class Cards(Repository[Card, CardRow]):
    filterable = ("holder",)


class CardService(Service[Card, None]):
    repository = Cards
    anonymous_writes = True

    async def after_create(self, uow: UnitOfWork, entity: Card) -> None:
        uow.publish(CardAdded(holder=entity.holder, number=entity.number))


async def nobody() -> None:
    """No authentication: this test is about what is shown, not who may do it."""


def build_app(db: Database) -> FastAPI:
    app = FastAPI()
    install(app, ApiSettings())  # the access log is on: its lines are checked too
    app.include_router(
        resource_router(
            CardService, provide=provide_service(CardService, db, nobody), path="/cards"
        )
    )
    return app


@pytest.fixture
async def app_db(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url, secret_key="masking-tests")
    await db.drop_all(Rows.metadata)
    await db.create_all(Rows.metadata)
    yield db
    await db.close()


async def stored_text(db: Database) -> str:
    async with db.engine.connect() as conn:
        audit = (await conn.execute(select(audit_log.c.changes))).scalars().all()
        payloads = (await conn.execute(select(events.c.payload))).scalars().all()
    return json.dumps([audit, payloads])


async def test_a_sensitive_value_surfaces_in_no_log_problem_audit_entry_or_event(
    app_db: Database, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=build_app(app_db))
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for body in [
            {"holder": "Ada", "number": CARD},  # stored
            {"holder": "Bob", "number": CARD},  # a unique key taken: 409
            {"holder": "Cy", "number": CARD + "0"},  # a CHECK broken: 422
            {"holder": "", "number": CARD},  # a Pydantic rule broken on another field: 422
            {"holder": "Di", "number": CARD + "x"},  # a Pydantic rule broken on it: 422
            {"holder": "Ed", "number": CARD, "unknown": CARD},  # an unknown field: 422
        ]:
            answers.append(await client.post("/cards", json=body))
        created = answers[0].json()
        answers.append(
            await client.patch(
                f"/cards/{created['id']}", json={"number": CARD[::-1]}, headers={"If-Match": '"1"'}
            )
        )
        answers.append(await client.get("/cards", params={"number": CARD}))  # not filterable

    assert [a.status_code for a in answers] == [201, 409, 422, 422, 422, 422, 200, 400]
    assert created["number"] == "****4444"  # shown masked, and still writable:
    assert answers[6].json()["number"] == "****1114"
    shown = {
        "answers": "\n".join(a.text for a in answers),
        "logs": "\n".join(  # the test client's own log lines are not the service's
            caplog.handler.format(r) for r in caplog.records if not r.name.startswith("httpx")
        ),
        "output": "".join(capfd.readouterr()),
        "stored": await stored_text(app_db),
    }
    leaks = {where: text.count(CARD[4:]) for where, text in shown.items() if CARD[4:] in text}
    assert leaks == {}
    assert CARD[::-1][4:] not in "".join(shown.values())


def test_sensitive_event_fields_are_masked_unless_the_event_carries_them() -> None:
    class Kept(DomainEvent, type="test.card_kept", carries_sensitive=True):
        number: Annotated[str, SENSITIVE]

    added = CardAdded(holder="Ada", number=CARD)

    assert added.payload() == {"holder": "Ada", "number": MASK}
    assert CARD not in added.to_json().decode()
    assert added.number == CARD  # the object the use case raised still holds it
    assert Kept(number=CARD).payload() == {"number": CARD}


def test_g17_encrypted_event_fields_are_masked_like_sensitive_ones() -> None:
    class Emailed(DomainEvent, type="test.emailed"):
        email: Annotated[str, ENCRYPTED]

    assert Emailed(email="ada@example.com").payload() == {"email": MASK}


def test_a_sensitive_event_field_that_cannot_hold_the_mask_is_refused_at_declaration() -> None:
    with pytest.raises(TypeError, match="carries_sensitive"):

        class Bad(DomainEvent, type="test.bad_sensitive"):
            pin: Annotated[int, SENSITIVE]


def test_show_last_masks_short_values_more() -> None:
    assert ShowLast(4).mask("4111222233334444") == "****4444"
    assert ShowLast(4).mask("123456") == "****456"
    assert ShowLast(4).mask("1") == "****"
    assert ShowLast(4).mask(None) is None
