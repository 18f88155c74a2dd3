"""Every rule over HTTP: 422 naming the field, 409 naming the fields, 428/412 on every write,
soft delete and restore with history (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from learning_testkit import Client, etag_of, serving, user_on

VIDEO = {"title": "One", "position": 1, "duration_s": 60, "url": "https://v.example/1"}
QUESTION = {"prompt": "2+2?", "choices": ["3", "4"], "answer": 1}


def fields_of(problem: dict[str, Any]) -> set[str]:
    named = {e["field"].removeprefix("body.") for e in problem.get("errors", [])}
    return named | set(problem.get("fields", []))


async def _published(instructor: Client, **course: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    created = await instructor.ok("POST", "/courses", 201, json={"title": "Rules", **course})
    video = await instructor.ok("POST", f"/courses/{created['id']}/videos", 201, json=VIDEO)
    url = f"/courses/{created['id']}/publish"
    return await instructor.ok("POST", url, headers=etag_of(created)), video


async def test_broken_rules_are_422_naming_the_field(learning_url: str) -> None:
    async with (
        serving(learning_url) as base,
        user_on(base, "ines") as ines,
        user_on(base, "sam") as sam,
    ):
        bad_courses = [
            ({"title": ""}, "title"),
            ({"title": "x" * 201}, "title"),
            ({"title": "ok", "slug": "Not A Slug"}, "slug"),
            ({"title": "ok", "difficulty": "expert"}, "difficulty"),
            ({"title": "ok", "price": {"amount": "-1", "currency": "EUR"}}, "price.amount"),
            ({"title": "ok", "price": {"amount": "1.001", "currency": "EUR"}}, "price.amount"),
            ({"title": "ok", "price": {"amount": "1", "currency": "eur"}}, "price.currency"),
            ({"title": "ok", "status": "published"}, "status"),
            ({"title": "ok", "rating": 5}, "rating"),
            ({"title": "ok", "enrollment_count": 9}, "enrollment_count"),
            ({"title": "ok", "instructor_id": sam.id}, "instructor_id"),
        ]
        for body, field in bad_courses:
            problem = await ines.problem("POST", "/courses", 422, json=body)
            assert any(field in f for f in fields_of(problem)), (body, problem)
        blank = await ines.problem("POST", "/courses", 422, json={"title": " "})
        assert fields_of(blank) == {"title"}, blank  # not the slug made from it
        course, video = await _published(ines)
        cid = course["id"]
        for change, field in (({"duration_s": 0}, "duration_s"), ({"position": 0}, "position")):
            problem = await ines.problem(
                "POST", f"/courses/{cid}/videos", 422, json={**VIDEO, **change}
            )
            assert any(field in f for f in fields_of(problem)), problem
        for questions in (
            [{**QUESTION, "choices": ["only"]}],
            [{**QUESTION, "choices": [str(n) for n in range(7)]}],
            [{**QUESTION, "answer": 2}],
            [],
        ):
            body = {"title": "Q", "questions": questions}
            problem = await ines.problem("POST", f"/courses/{cid}/quizzes", 422, json=body)
            assert any("questions" in f for f in fields_of(problem)), problem
        quiz = await ines.ok(
            "POST", f"/courses/{cid}/quizzes", 201, json={"title": "Q", "questions": [QUESTION]}
        )
        await sam.ok("POST", f"/courses/{cid}/enrollments", 201)
        for rating in (0, 6):
            problem = await sam.problem(
                "POST", f"/courses/{cid}/reviews", 422, json={"rating": rating}
            )
            assert fields_of(problem) == {"rating"}, problem
        problem = await sam.problem(
            "POST", f"/quizzes/{quiz['id']}/attempts", 422, json={"answers": [1, 0]}
        )
        assert fields_of(problem) == {"answers"}, problem
        problem = await sam.problem(
            "PUT", f"/videos/{video['id']}/progress", 422, json={"watched_s": -1}
        )
        assert fields_of(problem) == {"watched_s"}, problem
        problem = await ines.problem(
            "PATCH", f"/courses/{cid}", 422, json={"status": "draft"}, headers=etag_of(course)
        )
        assert fields_of(problem) == {"status"}, problem


async def test_duplicates_are_409_naming_the_fields(learning_url: str) -> None:
    async with (
        serving(learning_url) as base,
        user_on(base, "ines") as ines,
        user_on(base, "sam") as sam,
    ):
        course, _ = await _published(ines, slug="rules")
        cid = course["id"]
        problem = await sam.problem(
            "POST", "/courses", 409, json={"title": "Other", "slug": "rules"}
        )
        assert fields_of(problem) == {"slug"}, problem
        problem = await ines.problem("POST", f"/courses/{cid}/videos", 409, json=VIDEO)
        assert fields_of(problem) == {"course_id", "position"}, problem
        await sam.ok("POST", f"/courses/{cid}/enrollments", 201)
        problem = await sam.problem("POST", f"/courses/{cid}/enrollments", 409)
        assert fields_of(problem) == {"course_id", "user_id"}, problem
        await sam.ok("POST", f"/courses/{cid}/reviews", 201, json={"rating": 4})
        problem = await sam.problem("POST", f"/courses/{cid}/reviews", 409, json={"rating": 5})
        assert fields_of(problem) == {"course_id", "user_id"}, problem
        # Unenrolled, a student may enroll again.
        await sam.ok("DELETE", f"/courses/{cid}/enrollments/me", 204)
        await sam.problem("DELETE", f"/courses/{cid}/enrollments/me", 404)
        await sam.ok("POST", f"/courses/{cid}/enrollments", 201)


async def test_slug_of_a_deleted_course_is_free_and_its_restore_then_conflicts(
    learning_url: str,
) -> None:
    async with serving(learning_url) as base, user_on(base, "ines") as ines:
        first = await ines.ok("POST", "/courses", 201, json={"title": "Go basics"})
        await ines.ok("DELETE", f"/courses/{first['id']}", 204, headers=etag_of(first))
        await ines.problem("GET", f"/courses/{first['id']}", 404)
        second = await ines.ok("POST", "/courses", 201, json={"title": "Go basics"})
        assert second["slug"] == first["slug"] == "go-basics"
        problem = await ines.problem("POST", f"/courses/{first['id']}/restore", 409)
        assert fields_of(problem) == {"slug"}, problem
        await ines.ok("DELETE", f"/courses/{second['id']}", 204, headers=etag_of(second))
        restored = await ines.ok("POST", f"/courses/{first['id']}/restore")
        assert restored["deleted_at"] is None
        history = await ines.ok("GET", f"/courses/{first['id']}/history")
        assert [e["action"] for e in history["items"]] == ["create", "delete", "restore"]


async def test_every_write_route_needs_the_current_version(learning_url: str) -> None:
    async with serving(learning_url) as base, user_on(base, "ines") as ines:
        course = await ines.ok("POST", "/courses", 201, json={"title": "Locks"})
        video = await ines.ok("POST", f"/courses/{course['id']}/videos", 201, json=VIDEO)
        stale = {"If-Match": '"9"'}
        writes = [
            ("PATCH", f"/courses/{course['id']}", {"json": {"title": "New"}}),
            ("POST", f"/courses/{course['id']}/publish", {}),
            ("POST", f"/courses/{course['id']}/archive", {}),
            ("DELETE", f"/courses/{course['id']}", {}),
            ("PATCH", f"/videos/{video['id']}", {"json": {"title": "New"}}),
            ("DELETE", f"/videos/{video['id']}", {}),
        ]
        for method, url, kwargs in writes:
            await ines.problem(method, url, 428, **kwargs)
            await ines.problem(method, url, 412, headers=stale, **kwargs)
        response = await ines.call("GET", f"/videos/{video['id']}")
        assert response.headers["ETag"] == '"1"'
        changed = await ines.ok(
            "PATCH", f"/courses/{course['id']}", json={"title": "New"}, headers=etag_of(course)
        )
        assert changed["version"] == 2
        await ines.problem(
            "PATCH", f"/courses/{course['id']}", 412, json={"title": "x"}, headers=etag_of(course)
        )


async def test_metrics_show_the_seeds_monitoring_list(learning_url: str) -> None:
    async with serving(learning_url) as base, user_on(base, "ines") as ines:
        course = await ines.ok("POST", "/courses", 201, json={"title": "Watched"})
        await ines.problem("PATCH", f"/courses/{course['id']}", 412, json={"title": "x"},
                           headers={"If-Match": '"7"'})  # fmt: skip
        await ines.ok("DELETE", f"/courses/{course['id']}", 204, headers=etag_of(course))
        assert (await ines.call("GET", "/readyz")).status_code == 200
        metrics = (await ines.call("GET", "/metrics")).text
        for name in ("version_conflicts", "soft_deletes", "hard_deletes", "audit_entries"):
            line = next(x for x in metrics.splitlines() if x.startswith(f"lamina_db_{name}_total"))
            assert float(line.split()[-1]) >= (0 if name == "hard_deletes" else 1), line
