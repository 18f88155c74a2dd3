"""``Rollup``: a parent's summary values (counts, averages) kept from its children's rows.

A course shows its number of enrollments and its average rating; a post, its
comments. Counting them on each read is slow, and writing the parent with each
child serializes every write under one parent row. A rollup keeps them off the
request path: a :class:`~lamina.events.Subscription` recomputes the values of
each parent its events name, from the children's rows, and sets them with
:meth:`~lamina.persistence.Repository.set_derived` (no new version: a client's
``If-Match`` stays valid; no audit entry: the children's writes are audited)::

    course_stats = Rollup(
        "course-stats", Courses, key="course_id",
        on=(StudentEnrolled, StudentUnenrolled, ReviewPosted),
        values={"enrollment_count": Count(Enrollments), "rating": Average(Reviews, "rating")},
    )
    app = service_app(db, title="courses", subscriptions=[course_stats(db)])

Each event names its parent in its ``key`` field, and each child row in the same
field; the values are fields of the parent's repository declared ``derived``.
Being recomputed whole, they are right however often a batch is handled, and
``lamina events replay -s course-stats --from 0`` rebuilds them. They trail the
write by the time the runner takes to read its event (milliseconds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from lamina.domain.events import DomainEvent
from lamina.events.handlers import Subscription
from lamina.events.stored import StoredEvent
from lamina.persistence import Database, Filter, ReadOnlyRepository, Repository, where


class Summary(Protocol):
    """A value computed from the children of one parent."""

    async def of(self, db: Database, parent: Filter) -> Any:
        """The value over the children ``parent`` selects."""
        ...


@dataclass(frozen=True)
class Count:
    """How many live children ``repository`` holds."""

    repository: type[ReadOnlyRepository[Any, Any]]

    async def of(self, db: Database, parent: Filter) -> int:
        return await self.repository(db).count(parent)


@dataclass(frozen=True)
class Average:
    """The average of the children's numeric ``field``, to ``places`` decimals (rounded half
    to even), ``Decimal(0)`` with no children; computed exactly from the sum and count."""

    repository: type[ReadOnlyRepository[Any, Any]]
    field: str
    places: int = 2

    async def of(self, db: Database, parent: Filter) -> Decimal:
        children = self.repository(db)
        count = await children.count(parent)
        if not count:
            return Decimal(0)
        total = Decimal(await children.sum(self.field, parent))
        return (total / count).quantize(Decimal(1).scaleb(-self.places))


@dataclass(frozen=True)
class Rollup:
    """Derived ``values`` of ``parents`` kept up to date from the events ``on`` (see module).

    Call it with the database to get its :class:`Subscription` (``subscriptions=[rollup]``
    where a function of the database is taken; ``--handlers module:rollup`` for the CLI).
    """

    name: str
    parents: type[Repository[Any, Any]]
    key: str
    on: Sequence[type[DomainEvent]]
    values: Mapping[str, Summary]

    def __post_init__(self) -> None:
        missing = sorted(set(self.values) - set(self.parents.derived))
        if missing or not self.values:
            raise ValueError(
                f"Rollup {self.name!r}: {self.parents.__name__}.derived must name "
                f"{missing or 'the values'}"
            )
        for event in self.on:
            if self.key not in event.model_fields:
                raise ValueError(f"Rollup {self.name!r}: {event.__name__} has no {self.key!r}")

    def __call__(self, db: Database) -> Subscription:
        """The subscription keeping the values on ``db``."""
        subscription = Subscription(self.name)

        @subscription.handles_together(*self.on)
        async def recompute(events: list[tuple[DomainEvent, StoredEvent]]) -> None:
            parent_ids: dict[UUID, None] = {}
            for event, _ in events:
                parent_ids[getattr(event, self.key)] = None
            for parent_id in parent_ids:
                await self.recompute(db, parent_id)

        return subscription

    async def recompute(self, db: Database, parent_id: UUID) -> bool:
        """Recompute and set the values of one parent; False if it is missing or deleted."""
        parent = where(self.key) == parent_id
        values = {name: await summary.of(db, parent) for name, summary in self.values.items()}
        return await self.parents(db).set_derived(parent_id, values)
