"""The issue's full scenario over HTTP: a course from draft to archive, its students, its stats."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from examples.learning.course import Courses
from learning_testkit import Client, anonymous_on, etag_of, eventually, grant, serving, user_on
from sqlalchemy import text

from lamina.persistence import Database

REPO = Path(__file__).resolve().parents[3]


async def _stats(client: Client, course_id: str) -> tuple[str, int]:
    course = await client.ok("GET", f"/courses/{course_id}")
    return course["rating"], course["enrollment_count"]


def _replay(url: str) -> None:
    command = [
        str(Path(sys.executable).parent / "lamina"), "events", "replay",
        "--subscription", "course-stats", "--from", "0",
        "--handlers", "examples.learning.learning:course_stats", "--url", url,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def _forget_stats(url: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE learning_courses SET rating = 0, enrollment_count = 0"))
    finally:
        await db.close()


async def test_a_course_from_draft_to_archive_with_its_students(learning_url: str) -> None:
    async with (
        serving(learning_url) as base,
        user_on(base, "ines") as ines,
        user_on(base, "sam") as sam,
        user_on(base, "tess") as tess,
        user_on(base, "olga") as stranger,
        anonymous_on(base) as anonymous,
    ):
        body = {"title": "Intro to SQL", "price": {"amount": "19.90", "currency": "EUR"}}
        created = await ines.call("POST", "/courses", json=body)
        assert created.status_code == 201, created.text
        course = created.json()
        cid = course["id"]
        assert created.headers["Location"].endswith(f"/courses/{cid}")
        assert (course["status"], course["slug"], course["instructor_id"]) == (
            "draft", "intro-to-sql", ines.id,
        )  # fmt: skip
        assert course["price"] == {"amount": "19.90", "currency": "EUR"}

        # A draft is the instructor's alone.
        for other in (stranger, anonymous):
            await other.problem("GET", f"/courses/{cid}", 404)
            await other.problem("GET", f"/courses/{cid}/videos", 404)
        assert (await stranger.ok("GET", "/courses"))["items"] == []

        # Publishing needs a video.
        await ines.problem("POST", f"/courses/{cid}/publish", 409, headers=etag_of(course))
        video = {
            "title": "Selecting",
            "position": 1,
            "duration_s": 300,
            "url": "https://v.example/1",
        }
        v1 = await ines.ok("POST", f"/courses/{cid}/videos", 201, json=video)
        v2 = await ines.ok(
            "POST", f"/courses/{cid}/videos", 201, json={**video, "title": "Joins", "position": 2}
        )
        quiz_body = {
            "title": "Check",
            "questions": [
                {"prompt": "SELECT reads?", "choices": ["yes", "no"], "answer": 0},
                {"prompt": "JOIN of 2 tables gives?", "choices": ["1", "2", "rows"], "answer": 2},
            ],
        }
        quiz = await ines.ok("POST", f"/courses/{cid}/quizzes", 201, json=quiz_body)
        await stranger.problem("POST", f"/courses/{cid}/publish", 404, headers=etag_of(course))
        published = await ines.ok("POST", f"/courses/{cid}/publish", headers=etag_of(course))
        assert (published["status"], published["version"]) == ("published", 2)
        await ines.problem("POST", f"/courses/{cid}/publish", 409, headers=etag_of(published))

        # Everyone sees it now; only the instructor changes it, and sees the answers.
        assert (await anonymous.ok("GET", f"/courses/{cid}"))["status"] == "published"
        listed = await anonymous.ok("GET", "/courses")
        assert [c["id"] for c in listed["items"]] == [cid]
        await anonymous.problem(
            "PATCH", f"/courses/{cid}", 401, json={"title": "x"}, headers=etag_of(published)
        )
        await stranger.problem(
            "PATCH", f"/courses/{cid}", 403, json={"title": "x"}, headers=etag_of(published)
        )
        await stranger.problem("DELETE", f"/courses/{cid}", 403, headers=etag_of(published))
        await stranger.problem("GET", f"/courses/{cid}/history", 403)
        await stranger.problem("POST", f"/courses/{cid}/videos", 403, json={**video, "position": 3})
        seen = await stranger.ok("GET", f"/quizzes/{quiz['id']}")
        assert [q["answer"] for q in seen["questions"]] == [None, None]
        taught = await ines.ok("GET", f"/quizzes/{quiz['id']}")
        assert [q["answer"] for q in taught["questions"]] == [0, 2]
        for caller, answers in (
            (stranger, [None, None]),
            (anonymous, [None, None]),
            (ines, [0, 2]),
        ):
            (one,) = (await caller.ok("GET", f"/courses/{cid}/quizzes"))["items"]
            assert [q["answer"] for q in one["questions"]] == answers  # in lists too

        # Two students enroll, learn, attempt the quiz and review.
        for student, rating, answers in ((sam, 5, [0, 2]), (tess, 4, [1, 2])):
            enrolled = await student.ok("POST", f"/courses/{cid}/enrollments", 201)
            assert enrolled["user_id"] == student.id
            await student.problem("POST", f"/courses/{cid}/enrollments", 409)
            await student.ok(
                "PUT", f"/videos/{v1['id']}/progress", json={"watched_s": 300, "completed": True}
            )
            attempt = await student.ok(
                "POST", f"/quizzes/{quiz['id']}/attempts", 201, json={"answers": answers}
            )
            assert attempt["score"] == (100 if answers == [0, 2] else 50)
            await student.ok(
                "POST", f"/courses/{cid}/reviews", 201, json={"rating": rating, "comment": "good"}
            )
            await student.problem("POST", f"/courses/{cid}/reviews", 409, json={"rating": 1})
        await sam.ok("PUT", f"/videos/{v2['id']}/progress", json={"watched_s": 10})
        progress = await sam.ok("GET", f"/courses/{cid}/progress")
        assert progress["completed_share"] == 0.5
        assert [(p["video_id"], p["watched_s"]) for p in progress["videos"]] == [
            (v1["id"], 300), (v2["id"], 10),
        ]  # fmt: skip
        await stranger.problem("PUT", f"/videos/{v1['id']}/progress", 404, json={"watched_s": 1})
        await stranger.problem("POST", f"/courses/{cid}/reviews", 403, json={"rating": 1})
        mine = await sam.ok("GET", "/users/me/enrollments")
        assert [e["course_id"] for e in mine["items"]] == [cid]

        # The stats follow (the projection, within 2 s).
        started = time.monotonic()
        await eventually(lambda: _stats(anonymous, cid), lambda s: s == ("4.50", 2))
        assert time.monotonic() - started < 2
        await tess.ok("DELETE", f"/courses/{cid}/enrollments/me", 204)
        await eventually(lambda: _stats(anonymous, cid), lambda s: s == ("4.50", 1))
        reviews = await anonymous.ok("GET", f"/courses/{cid}/reviews")
        assert sorted(r["rating"] for r in reviews["items"]) == [4, 5]

        # A tutor chat: the student asks, the tutor answers, nobody else reads it.
        chat = await sam.ok("POST", f"/courses/{cid}/chats", 201)
        await stranger.problem("POST", f"/courses/{cid}/chats", 403)
        await sam.ok("POST", f"/chats/{chat['id']}/messages", 201, json={"content": "Why JOIN?"})
        async with user_on(base, "tutorbot"):
            pass  # registered
        await grant(learning_url, "tutorbot", "tutor")
        async with user_on(base, "tutorbot", scopes="tutor") as tutor:
            reply = await tutor.ok(
                "POST", f"/chats/{chat['id']}/messages", 201, json={"content": "To combine."}
            )
            assert reply["role"] == "assistant"
        for outsider in (ines, stranger):
            await outsider.problem("GET", f"/chats/{chat['id']}/messages", 404)
            await outsider.problem(
                "POST", f"/chats/{chat['id']}/messages", 404, json={"content": "x"}
            )
        messages = await sam.ok("GET", f"/chats/{chat['id']}/messages")
        assert [(m["role"], m["content"]) for m in messages["items"]] == [
            ("user", "Why JOIN?"), ("assistant", "To combine."),
        ]  # fmt: skip

        # Archived: the instructor's alone again, closed to students; one event each.
        current = await ines.call("GET", f"/courses/{cid}")
        archived = await ines.ok("POST", f"/courses/{cid}/archive", headers=etag_of(current))
        assert archived["status"] == "archived"
        await ines.problem("POST", f"/courses/{cid}/enrollments", 409)
        await stranger.problem("POST", f"/courses/{cid}/enrollments", 404)
        await ines.problem("POST", f"/courses/{cid}/archive", 409, headers=etag_of(archived))
        assert await _event_types(learning_url, cid) == [
            "course.published", "student.enrolled", "review.posted", "student.enrolled",
            "review.posted", "student.unenrolled", "course.archived",
        ]  # fmt: skip

    # With the service stopped, a replay from 0 rebuilds the stats to the same values.
    await _forget_stats(learning_url)
    _replay(learning_url)
    assert await _stored_stats(learning_url, cid) == (Decimal("4.50"), 1)


async def _stored_stats(url: str, course_id: str) -> tuple[Decimal, int]:
    db = Database(url)
    try:
        course = await Courses(db).get(UUID(course_id))
        return course.rating, course.enrollment_count
    finally:
        await db.close()


async def _event_types(url: str, course_id: str) -> list[Any]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT event_type FROM lamina_events WHERE stream_id = :s ORDER BY position"),
                {"s": course_id},
            )
            return [r[0] for r in rows if r[0] != "quiz.attempted"]
    finally:
        await db.close()
