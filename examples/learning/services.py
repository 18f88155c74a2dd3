"""Use cases, one service per entity, each for the caller (None: an anonymous reader).

Reads see published courses and the caller's own, and what hangs off them
(``Within``); writes of a course and its videos and quizzes are its
instructor's (403 on a visible course of someone else, 404 on an invisible
one). Learning needs an enrollment. Each write is one unit of work with its event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from examples.learning import domain as d
from examples.learning.repositories import Courses, Reviews, Videos
from lamina.domain import Conflict, ConstraintViolated, NotFound, PermissionDenied, slugify
from lamina.persistence import UnitOfWork, any_of, where
from lamina.security import Principal
from lamina.service import Filtered, OwnedBy, Service, Transition, Within

Actor = Principal | None
PUBLISHED = where("status") == d.CourseStatus.PUBLISHED


def tutor(p: Actor) -> bool:
    return p is not None and "tutor" in p.scopes


async def require_enrolled(uow: UnitOfWork, p: Actor, course_id: UUID) -> None:
    mine = (where("user_id") == p.user_id, where("course_id") == course_id) if p else ()
    if not p or not await EnrollmentService.repository(uow).exists(*mine):
        raise PermissionDenied("enroll in the course first")


async def has_video(uow: UnitOfWork, course: d.Course) -> None:
    if not await Videos(uow).exists(where("course_id") == course.id):
        raise Conflict("add a video before publishing the course")


class CourseService(Service[d.Course, Actor]):  # the instructor: the caller (OwnedBy)
    repository = Courses
    scope = Filtered(
        lambda p: [any_of(PUBLISHED, where("instructor_id") == p.user_id)] if p else [PUBLISHED]
    )
    write_scope = OwnedBy("instructor_id")
    history_needs_write = True  # the audit trail is the instructor's to read
    publishes = {"publish": d.CoursePublished, "archive": d.CourseArchived}

    def new_entity(self, values: Mapping[str, Any]) -> d.Course:
        slug = values.get("slug") or slugify(values.get("title", ""), fallback="course")
        return super().new_entity({**values, "slug": slug})

    publish = Transition(
        "status", {d.CourseStatus.DRAFT}, d.CourseStatus.PUBLISHED, guard=has_video
    )
    archive = Transition("status", {d.CourseStatus.PUBLISHED}, d.CourseStatus.ARCHIVED)

    async def progress(self, id: UUID) -> dict[str, Any]:
        """The caller's progress through the videos of a course."""
        await self.get(id)
        return await ProgressService(self.db, self.principal).of_course(id)


class VideoService(Service[d.Video, Actor]):
    repository = Videos
    scope = Within("course_id", CourseService)
    write_scope = Within("course_id", CourseService, write=True)


class QuizService(Service[d.Quiz, Actor]):
    scope = Within("course_id", CourseService)
    write_scope = Within("course_id", CourseService, write=True)  # ...who see the answers


class EnrollmentService(Service[d.Enrollment, Actor]):
    scope = OwnedBy("user_id")
    publishes = {"create": d.StudentEnrolled, "delete": d.StudentUnenrolled}

    async def unenroll(self, course_id: UUID) -> None:
        """End the caller's enrollment in a course."""
        mine = await (await self.scoped()).list(where("course_id") == course_id, limit=1)
        if not mine:
            raise NotFound("Enrollment", course_id)
        await self.delete(mine[0].id)

    async def before_create(self, uow: UnitOfWork, entity: d.Enrollment) -> d.Enrollment:
        if (await Courses(uow).get(entity.course_id)).status is not d.CourseStatus.PUBLISHED:
            raise Conflict("only a published course is open for enrollment")
        return entity


ENROLLED = Within("course_id", EnrollmentService, key="course_id")  # the caller's courses


class ProgressService(Service[d.VideoProgress, Actor]):
    scope = OwnedBy("user_id")

    async def record(
        self, video_id: UUID, watched_s: int, completed: bool = False
    ) -> d.VideoProgress:
        """Record how much of a video of an enrolled course the caller watched."""
        self.require_principal()

        async def use_case(uow: UnitOfWork) -> d.VideoProgress:
            enrolled = EnrollmentService.repository.subquery(
                "course_id", where("user_id") == self.principal.user_id
            )  # type: ignore[union-attr]
            video = await Videos(uow, scope=[where("course_id").in_(enrolled)]).get(video_id)
            values = {"video_id": video_id, "course_id": video.course_id, "watched_s": watched_s}
            progress = self.new_entity({**values, "completed": completed})
            return await self.repository(uow).upsert(progress, on=("user_id", "video_id"))

        return await self.run(use_case)

    async def of_course(self, course_id: UUID) -> dict[str, Any]:
        """The caller's progress through the videos of a course, and the share completed."""
        videos = await Videos(self.db).list(where("course_id") == course_id, order_by=["position"])
        mine = await (await self.scoped()).list(where("course_id") == course_id)
        done = {p.video_id: p for p in mine}
        rows = [
            done.get(v.id) or {"video_id": v.id, "watched_s": 0, "completed": False} for v in videos
        ]
        completed = sum(p.completed for p in mine if p.video_id in {v.id for v in videos})
        return {"videos": rows, "completed_share": completed / len(videos) if videos else 0.0}


class ReviewService(Service[d.Review, Actor]):
    repository = Reviews
    scope = Within("course_id", CourseService)
    write_scope = ENROLLED
    owner_field = "user_id"
    publishes = {"create": d.ReviewPosted}


class AttemptService(Service[d.QuizAttempt, Actor]):
    scope = OwnedBy("user_id")

    async def before_create(self, uow: UnitOfWork, entity: d.QuizAttempt) -> d.QuizAttempt:
        quiz = await QuizService.repository(uow).get(entity.quiz_id)
        await require_enrolled(uow, self.principal, quiz.course_id)
        if len(entity.answers) != len(quiz.questions):
            rule, wanted = "one_answer_per_question", f"give {len(quiz.questions)} answers"
            raise ConstraintViolated("QuizAttempt", rule, ["answers"], wanted)
        right = sum(a == q.answer for a, q in zip(entity.answers, quiz.questions, strict=True))
        score = round(100 * right / len(quiz.questions))
        uow.publish(
            d.QuizAttempted(
                course_id=quiz.course_id, quiz_id=quiz.id, user_id=entity.user_id, score=score
            )
        )
        return entity.evolve(score=score)


class ChatService(Service[d.TutorChat, Actor]):
    """Tutor chats: the caller's own; all of them for the tutor."""

    scope = Filtered(lambda p: [] if tutor(p) else [where("user_id").in_([p.user_id] if p else [])])
    write_scope = ENROLLED
    owner_field = "user_id"


class MessageService(Service[d.ChatMessage, Actor]):
    scope = Within("chat_id", ChatService)

    def new_entity(self, values: Mapping[str, Any]) -> d.ChatMessage:
        role = "assistant" if tutor(self.principal) else "user"
        return super().new_entity({**values, "role": role})
