"""``Rollup``: a parent's counts and averages kept from its children by a subscription, G8
(handled twice or replayed, the values stay right); ``Repository.sum``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import pytest
from pydantic import Field
from sqlalchemy.orm import DeclarativeBase

from lamina.domain import SERVER_OWNED, DomainEvent, References, SoftDeletable, StandardEntity
from lamina.events import Average, Count, EventRunner, Rollup
from lamina.persistence import (
    Base,
    Database,
    EntityColumns,
    MappingError,
    Repository,
    new_metadata,
    repository_for,
    where,
)


class Post(StandardEntity):
    title: str
    comments: Annotated[int, SERVER_OWNED] = 0
    stars: Annotated[Decimal, SERVER_OWNED, Field(max_digits=3, decimal_places=2)] = Decimal(0)


class Comment(StandardEntity, SoftDeletable):
    post_id: Annotated[UUID, References(Post)]
    stars: Annotated[int, Field(ge=1, le=5)]


class Commented(DomainEvent, type="t_rollup.commented", stream="post_id"):
    post_id: UUID


class RollupBase(EntityColumns, DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class PostRow(RollupBase, entity=Post, tablename="t_rollup_posts"): ...


class CommentRow(RollupBase, entity=Comment, tablename="t_rollup_comments"): ...


class Posts(Repository[Post, PostRow]):
    derived = ("comments", "stars")


Comments = repository_for(Comment)

post_stats = Rollup(
    "post-stats",
    Posts,
    key="post_id",
    on=(Commented,),
    values={"comments": Count(Comments), "stars": Average(Comments, "stars")},
)


@pytest.fixture
async def rollup_db(db: Database) -> AsyncIterator[Database]:
    await db.drop_all(RollupBase.metadata)
    await db.create_all(RollupBase.metadata)
    yield db
    await db.drop_all(RollupBase.metadata)


async def comment(db: Database, post: Post, stars: int) -> Comment:
    async with db.unit_of_work() as uow:
        made = await Comments(uow).add(Comment(post_id=post.id, stars=stars))
        uow.publish(Commented(post_id=post.id))
    return made


async def test_g8_a_rollup_keeps_counts_and_averages_and_a_replay_gives_the_same(
    rollup_db: Database,
) -> None:
    db = rollup_db
    post, other = await Posts(db).add(Post(title="p")), await Posts(db).add(Post(title="o"))
    for stars in (5, 4, 4):
        await comment(db, post, stars)
    gone = await comment(db, post, 1)
    await Comments(db).delete(gone.id)  # a deleted child no longer counts
    await comment(db, other, 3)
    runner = EventRunner(db, [post_stats(db)])
    await runner.catch_up("post-stats")

    kept = await Posts(db).get(post.id)
    assert (kept.comments, kept.stars, kept.version) == (3, Decimal("4.33"), 1)  # no new version
    assert ((await Posts(db).get(other.id)).comments, (await Posts(db).get(other.id)).stars) == (
        1,
        Decimal("3.00"),
    )
    await Posts(db).set_derived(post.id, {"comments": 99})  # put right again by a replay
    await runner.replay("post-stats", after=0)
    await runner.catch_up("post-stats")
    assert (await Posts(db).get(post.id)).comments == 3
    assert await post_stats.recompute(db, UUID(int=1)) is False  # no such parent


async def test_a_parent_without_children_has_zeros(rollup_db: Database) -> None:
    post = await Posts(rollup_db).add(Post(title="quiet"))
    assert await post_stats.recompute(rollup_db, post.id)
    assert (await Posts(rollup_db).get(post.id)).stars == Decimal("0.00")


async def test_sum_adds_a_numeric_field_in_the_database(rollup_db: Database) -> None:
    post = await Posts(rollup_db).add(Post(title="p"))
    for stars in (2, 3):
        await comment(rollup_db, post, stars)
    comments = Comments(rollup_db)
    assert await comments.sum("stars", where("post_id") == post.id) == 5
    assert await comments.sum("stars", where("post_id") == UUID(int=1)) == 0
    with pytest.raises(MappingError, match="no numeric column"):
        await comments.sum("post_id")


def test_a_rollup_names_derived_fields_and_events_with_the_key() -> None:
    with pytest.raises(ValueError, match="derived must name"):
        Rollup("bad", Posts, key="post_id", on=(Commented,), values={"title": Count(Comments)})
    with pytest.raises(ValueError, match="has no 'user_id'"):
        Rollup("bad", Posts, key="user_id", on=(Commented,), values={"comments": Count(Comments)})
