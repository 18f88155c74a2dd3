"""``Repository.touch``: an activity marker moves forward, with no version and no audit entry."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from persistence_models import Post, Posts, Topic, Topics

from lamina.domain import InvalidInput, utcnow, uuid7
from lamina.persistence import Database, UnitOfWork, count_queries, where


async def test_touch_moves_the_marker_forward_only(db: Database) -> None:
    topics = Topics(db)
    topic = await topics.add(Topic(title="t"))
    first = utcnow()

    assert await topics.touch(topic.id, "last_post_at", first)  # from nothing
    assert not await topics.touch(topic.id, "last_post_at", first)  # not later
    assert not await topics.touch(topic.id, "last_post_at", first - timedelta(seconds=1))
    assert await topics.touch(topic.id, "last_post_at", first + timedelta(seconds=1))

    assert (await topics.get(topic.id)).last_post_at == first + timedelta(seconds=1)


async def test_touch_takes_no_version_writes_no_audit_entry_keeps_updated_at(
    db: Database,
) -> None:
    topics = Topics(db)
    topic = await topics.add(Topic(title="t"))

    with count_queries() as tally:
        assert await topics.touch(topic.id, "last_post_at", utcnow())

    touched = await topics.get(topic.id)
    assert (touched.version, touched.updated_at) == (topic.version, topic.updated_at)
    assert [e.action for e in await topics.history(topic.id)] == ["create"]
    # An If-Match taken before the touch is still current.
    renamed = await topics.update(topic.id, {"title": "u"}, expected_version=topic.version)
    assert (renamed.version, renamed.last_post_at) == (2, touched.last_post_at)
    assert tally.queries <= 3  # BEGIN (where sent apart), the UPDATE, COMMIT


async def test_touch_joins_the_unit_of_work_it_runs_in(db: Database) -> None:
    topic = await Topics(db).add(Topic(title="t"))

    async def use_case(uow: UnitOfWork) -> None:
        await Posts(uow).add(Post(topic_id=topic.id, body="b"))
        await Topics(uow).touch(topic.id, "last_post_at", utcnow())
        raise RuntimeError("the use case fails")

    with pytest.raises(RuntimeError):
        await db.run(use_case)
    assert (await Topics(db).get(topic.id)).last_post_at is None  # G3
    assert await Posts(db).count() == 0


async def test_touch_skips_deleted_missing_and_out_of_scope_rows(db: Database) -> None:
    topics = Topics(db)
    deleted = await topics.add(Topic(title="deleted"))
    await topics.delete(deleted.id)
    other = await topics.add(Topic(title="other"))

    assert not await topics.touch(deleted.id, "last_post_at", utcnow())
    assert not await topics.touch(uuid7(), "last_post_at", utcnow())
    scoped = Topics(db, scope=[where("title") == "mine"])
    assert not await scoped.touch(other.id, "last_post_at", utcnow())
    assert (await topics.get(deleted.id, include_deleted=True)).last_post_at is None
    assert (await topics.get(other.id)).last_post_at is None


async def test_touch_refuses_undeclared_fields_and_invalid_values(db: Database) -> None:
    topics = Topics(db)
    topic = await topics.add(Topic(title="t"))
    with pytest.raises(ValueError, match="touchable"):
        await topics.touch(topic.id, "posts", 3)
    with pytest.raises(InvalidInput) as caught:
        await topics.touch(topic.id, "last_post_at", "not a time")
    assert caught.value.errors[0].field == "last_post_at"
    with pytest.raises(InvalidInput):
        await topics.touch(topic.id, "last_post_at", datetime(2026, 1, 1))  # naive
    assert (await topics.get(topic.id)).last_post_at is None
