"""Course stats: ``rating`` (the average review, two decimals, 0 with none) and
``enrollment_count``, a projection of enrollments and reviews kept off the request path.

Each batch of events recomputes the stats of the courses it concerns from the
enrollments and reviews themselves and sets them with ``set_derived`` (no new
version: an instructor's ``If-Match`` stays valid; no audit entry: the writes
they come from are audited). Being recomputed whole, they are right however
often a batch is handled, and ``lamina events replay -s course-stats --from 0``
rebuilds them to the same values.
"""

from __future__ import annotations

from decimal import Decimal

from examples.learning.course import CourseEvent, Courses
from examples.learning.learning import (
    Enrollment,
    ReviewPosted,
    Reviews,
    StudentEnrolled,
    StudentUnenrolled,
)
from lamina.events import StoredEvent, Subscription
from lamina.persistence import Database, repository_for, where

SUBSCRIPTION = "course-stats"


def course_stats(db: Database) -> Subscription:
    """The subscription keeping the stats of the courses on ``db``."""
    stats = Subscription(SUBSCRIPTION)

    @stats.handles_together(StudentEnrolled, StudentUnenrolled, ReviewPosted)
    async def recount(events: list[tuple[CourseEvent, StoredEvent]]) -> None:
        for course_id in {event.course_id for event, _ in events}:
            of_course = where("course_id") == course_id
            ratings = [r.rating for r in await Reviews(db).list(of_course)]
            rating = Decimal(sum(ratings)) / len(ratings) if ratings else Decimal(0)
            count = await repository_for(Enrollment)(db).count(of_course)
            values = {"rating": rating.quantize(Decimal("0.01")), "enrollment_count": count}
            await Courses(db).set_derived(course_id, values)

    return stats
