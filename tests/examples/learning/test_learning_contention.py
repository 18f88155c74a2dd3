"""Many students at once: every enrollment and review lands, and the stats are exact."""

from __future__ import annotations

import asyncio
import contextlib

from learning_testkit import Client, create_users, etag_of, eventually, serving, user_on

STUDENTS = 32


async def test_32_concurrent_enrollments_and_reviews_all_land(learning_url: str) -> None:
    await create_users(learning_url, [f"student{n}" for n in range(STUDENTS)])
    async with serving(learning_url) as base, contextlib.AsyncExitStack() as stack:
        ines = await stack.enter_async_context(user_on(base, "ines"))
        students: list[Client] = [
            await stack.enter_async_context(user_on(base, f"student{n}")) for n in range(STUDENTS)
        ]
        course = await ines.ok("POST", "/courses", 201, json={"title": "Crowded"})
        cid = course["id"]
        video = {"title": "V", "position": 1, "duration_s": 9, "url": "https://v.example/v"}
        await ines.ok("POST", f"/courses/{cid}/videos", 201, json=video)
        await ines.ok("POST", f"/courses/{cid}/publish", headers=etag_of(course))

        enrolled = await asyncio.gather(
            *(s.call("POST", f"/courses/{cid}/enrollments") for s in students)
        )
        assert [r.status_code for r in enrolled] == [201] * STUDENTS
        reviews = await asyncio.gather(
            *(
                s.call("POST", f"/courses/{cid}/reviews", json={"rating": 1 + n % 5})
                for n, s in enumerate(students)
            )
        )
        assert [r.status_code for r in reviews] == [201] * STUDENTS
        expected_rating = f"{sum(1 + n % 5 for n in range(STUDENTS)) / STUDENTS:.2f}"

        async def stats() -> tuple[str, int]:
            got = await ines.ok("GET", f"/courses/{cid}")
            return got["rating"], got["enrollment_count"]

        await eventually(stats, lambda s: s == (expected_rating, STUDENTS))
