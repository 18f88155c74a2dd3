"""G6: following keyset pages returns every matching row exactly once, whatever ties the sort
values have; cursors are opaque and tamper-evident."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from persistence_models import Item, Items, Price, Products, new_product

from lamina.domain import InvalidInput
from lamina.persistence import Database, Filter, where
from lamina.persistence.cursors import encode_cursor

ROWS = 1000
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
async def items(db: Database) -> list[Item]:
    """1,000 items stored in one batch, so they all share the same ``created_at``.

    Names, ranks and due dates repeat (a third of the due dates are missing), so
    every ordering below is full of ties.
    """
    drafts = [
        Item(
            name=f"n{i % 7}",
            rank=i % 5,
            due_at=None if i % 3 == 0 else T0 + timedelta(days=i % 4),
        )
        for i in range(ROWS)
    ]
    return await Items(db).add_many(drafts)


async def walk(
    repo: Items, order_by: Sequence[str], limit: int, *filters: Filter, only_deleted: bool = False
) -> list[UUID]:
    """The ids of every page, following the cursors from the first page to the last."""
    ids: list[UUID] = []
    cursor: str | None = None
    for _ in range(ROWS):
        page = await repo.keyset_page(
            *filters, order_by=order_by, limit=limit, cursor=cursor, only_deleted=only_deleted
        )
        assert len(page) <= limit
        ids += [i.id for i in page]
        cursor = page.next_cursor
        if cursor is None:
            return ids
        assert len(page) == limit
    raise AssertionError("the pages never ended")


async def _check_walk(
    db: Database, order_by: Sequence[str], limit: int, *filters: Filter
) -> list[UUID]:
    items = Items(db)
    walked = await walk(items, order_by, limit, *filters)
    expected = [i.id for i in await items.list(*filters, order_by=order_by)]
    assert len(walked) == len(set(walked))  # no row twice
    assert walked == expected  # every row, in the order of the whole list
    return walked


async def test_g6_rows_sharing_one_timestamp_are_each_returned_once(
    db: Database, items: list[Item]
) -> None:
    assert len({i.created_at for i in items}) == 1
    walked = await _check_walk(db, ["-created_at"], 37)
    assert set(walked) == {i.id for i in items}
    assert len(walked) == ROWS


@pytest.mark.parametrize(
    "order_by",
    [
        ["created_at"],
        ["rank", "-name"],  # mixed directions
        ["-rank", "name", "-created_at"],
        ["due_at"],  # a nullable column, NULL first
        ["-due_at"],  # NULL last
        ["-due_at", "rank"],
        ["rank", "due_at"],
        [],  # the repository's default order
    ],
    ids=str,
)
async def test_g6_every_row_once_for_orderings_full_of_ties(
    db: Database, items: list[Item], order_by: list[str]
) -> None:
    walked = await _check_walk(db, order_by, 64)
    assert len(walked) == ROWS


async def test_g6_filters_and_soft_delete_apply_to_every_page(
    db: Database, items: list[Item]
) -> None:
    repo = Items(db)
    deleted = {i.id for i in items[:100] if i.rank == 1}
    for item_id in deleted:
        await repo.delete(item_id)
    walked = await _check_walk(db, ["due_at", "-name"], 50, where("rank") <= 2)
    expected = {i.id for i in items if i.rank <= 2} - deleted
    assert set(walked) == expected
    only = await walk(repo, ["name"], 7, only_deleted=True)
    assert set(only) == deleted


async def test_g6_the_last_page_has_no_next_cursor(db: Database, items: list[Item]) -> None:
    repo = Items(db)
    page = await repo.keyset_page(where("rank") == 0, limit=200)
    assert len(page) == 200
    assert page.next_cursor is None
    page = await repo.keyset_page(where("rank") == 0, limit=199)
    assert page.next_cursor is not None
    rest = await repo.keyset_page(where("rank") == 0, limit=199, cursor=page.next_cursor)
    assert (len(rest), rest.next_cursor) == (1, None)
    empty = await repo.keyset_page(where("rank") == 9)
    assert (list(empty), empty.next_cursor) == ([], None)


async def test_g6_rows_added_while_walking_do_not_repeat_rows(
    db: Database, items: list[Item]
) -> None:
    repo = Items(db)
    first = await repo.keyset_page(order_by=["rank"], limit=500)
    await repo.add(Item(name="late", rank=0))
    assert first.next_cursor is not None
    second = await repo.keyset_page(order_by=["rank"], limit=500, cursor=first.next_cursor)
    seen = [i.id for i in [*first, *second]]
    assert len(seen) == len(set(seen))


async def _cursor(db: Database) -> str:
    await Items(db).add_many([Item(name=f"c{i}", rank=i) for i in range(3)])
    page = await Items(db).keyset_page(order_by=["rank"], limit=1)
    assert page.next_cursor is not None
    return page.next_cursor


def _flip(cursor: str, index: int) -> str:
    replacement = "A" if cursor[index] != "A" else "B"
    return cursor[:index] + replacement + cursor[index + 1 :]


async def test_g6_a_tampered_cursor_raises_invalid_input(db: Database) -> None:
    cursor = await _cursor(db)
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    forged_body = raw[:16] + raw[16:].replace(b'"k":[0,', b'"k":[1,')
    assert forged_body != raw
    forged = base64.urlsafe_b64encode(forged_body).rstrip(b"=").decode()
    for bad in (_flip(cursor, 3), _flip(cursor, len(cursor) - 5), forged, cursor[:-4]):
        with pytest.raises(InvalidInput) as caught:
            await Items(db).keyset_page(order_by=["rank"], limit=1, cursor=bad)
        assert caught.value.errors[0].field == "cursor"


@pytest.mark.parametrize(
    "bad", ["", "x", "not a cursor!", "%%%", "A" * 5000, "eyJvIjoicmFuayJ9", "====", "\x00"]
)
async def test_g6_a_malformed_cursor_raises_invalid_input(db: Database, bad: str) -> None:
    await _cursor(db)
    with pytest.raises(InvalidInput) as caught:
        await Items(db).keyset_page(order_by=["rank"], cursor=bad)
    assert caught.value.errors[0].field == "cursor"


async def test_g6_a_cursor_is_bound_to_its_ordering_and_secret(db: Database, db_url: str) -> None:
    cursor = await _cursor(db)
    with pytest.raises(InvalidInput):
        await Items(db).keyset_page(order_by=["-rank"], cursor=cursor)
    with pytest.raises(InvalidInput):
        await Items(db).keyset_page(order_by=["name"], cursor=cursor)
    other = Database(db_url, secret_key="another-secret")
    try:
        with pytest.raises(InvalidInput):
            await Items(other).keyset_page(order_by=["rank"], cursor=cursor)
    finally:
        await other.close()
    same_secret = Database(db_url, secret_key="test-secret")
    try:
        page = await Items(same_secret).keyset_page(order_by=["rank"], cursor=cursor)
        assert [i.rank for i in page] == [1, 2]
    finally:
        await same_secret.close()


@pytest.mark.parametrize(
    "values",
    [["not-a-number", "01a203be-087d-7013-a7bc-2ddaeb430a62"], [1], [1, "not-a-uuid"], [1, 2, 3]],
)
async def test_g6_a_signed_cursor_with_values_of_the_wrong_shape_raises_invalid_input(
    db: Database, values: list[object]
) -> None:
    await _cursor(db)
    forged = encode_cursor(db.secret_key, "rank,id", values)
    with pytest.raises(InvalidInput) as caught:
        await Items(db).keyset_page(order_by=["rank"], cursor=forged)
    assert caught.value.errors[0].field == "cursor"


@pytest.mark.parametrize(
    "order_by", [["price.amount"], ["-price.amount", "rating"], ["-rating", "-released_at"]]
)
async def test_g6_keyset_over_value_object_parts_and_nullable_columns(
    db: Database, order_by: list[str]
) -> None:
    products = Products(db)
    await products.add_many(
        [
            new_product(
                f"K{i:03}",
                price=Price(amount=Decimal(i % 4) + Decimal("0.50"), currency="EUR"),
                rating=None if i % 5 == 0 else i % 3,
                released_at=None if i % 2 else T0 + timedelta(hours=i % 3),
            )
            for i in range(120)
        ]
    )
    seen: list[UUID] = []
    cursor: str | None = None
    while True:
        page = await products.keyset_page(order_by=order_by, limit=11, cursor=cursor)
        seen += [p.id for p in page]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [p.id for p in await products.list(order_by=order_by)]
    assert len(set(seen)) == 120
