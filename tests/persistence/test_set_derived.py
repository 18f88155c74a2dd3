"""``Repository.set_derived``: a projection's values, set with no version and no audit entry."""

from __future__ import annotations

import pytest
from persistence_models import Post, Posts, Topic, Topics

from lamina.domain import InvalidInput, uuid7
from lamina.persistence import Database, UnitOfWork, count_queries, where


async def test_set_derived_overwrites_without_version_audit_or_updated_at(db: Database) -> None:
    topics = Topics(db)
    topic = await topics.add(Topic(title="t"))

    with count_queries() as tally:
        assert await topics.set_derived(topic.id, {"posts": 3})
    assert await topics.set_derived(topic.id, {"posts": 2})  # down as well as up

    now = await topics.get(topic.id)
    assert (now.posts, now.version, now.updated_at) == (2, topic.version, topic.updated_at)
    assert [e.action for e in await topics.history(topic.id)] == ["create"]
    assert tally.queries <= 3  # BEGIN (where sent apart), the UPDATE, COMMIT
    # An If-Match taken before is still current, and an update keeps the derived value.
    renamed = await topics.update(topic.id, {"title": "u"}, expected_version=topic.version)
    assert (renamed.version, renamed.posts) == (2, 2)


async def test_set_derived_joins_the_unit_of_work(db: Database) -> None:
    topic = await Topics(db).add(Topic(title="t"))

    async def use_case(uow: UnitOfWork) -> None:
        await Posts(uow).add(Post(topic_id=topic.id, body="b"))
        await Topics(uow).set_derived(topic.id, {"posts": 1})
        raise RuntimeError("the use case fails")

    with pytest.raises(RuntimeError):
        await db.run(use_case)
    assert (await Topics(db).get(topic.id)).posts == 0


async def test_set_derived_skips_missing_deleted_and_out_of_scope_rows(db: Database) -> None:
    topics = Topics(db)
    kept, gone = await topics.add(Topic(title="kept")), await topics.add(Topic(title="gone"))
    await topics.delete(gone.id)

    assert not await topics.set_derived(uuid7(), {"posts": 1})
    assert not await topics.set_derived(gone.id, {"posts": 1})
    assert not await Topics(db, scope=[where("title") == "other"]).set_derived(
        kept.id, {"posts": 1}
    )
    assert (await topics.get(kept.id)).posts == 0


async def test_set_derived_takes_declared_valid_values_only(db: Database) -> None:
    topics = Topics(db)
    topic = await topics.add(Topic(title="t"))
    with pytest.raises(ValueError, match="derived"):
        await topics.set_derived(topic.id, {"title": "x"})
    with pytest.raises(InvalidInput) as caught:
        await topics.set_derived(topic.id, {"posts": "many"})
    assert [e.field for e in caught.value.errors] == ["posts"]
