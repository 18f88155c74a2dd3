"""``GET /courses``: what anonymous callers and instructors see, its filters and sorts."""

from __future__ import annotations

from typing import Any

from learning_testkit import anonymous_on, etag_of, serving, user_on

VIDEO = {"title": "V", "position": 1, "duration_s": 9, "url": "https://v.example/v"}


async def test_filters_and_sorts_of_the_course_list(learning_url: str) -> None:
    async with (
        serving(learning_url) as base,
        user_on(base, "ines") as ines,
        user_on(base, "omar") as omar,
        anonymous_on(base) as anonymous,
    ):
        made: dict[str, dict[str, Any]] = {}
        specs = [
            (ines, "Python basics", "beginner", "10.00", "EUR", True),
            (ines, "Rust in depth", "advanced", "49.50", "EUR", True),
            (omar, "SQL tuning", "advanced", "30.00", "USD", True),
            (omar, "Draft notes", "intermediate", "0", "USD", False),
        ]
        for owner, title, level, amount, currency, publish in specs:
            body = {
                "title": title,
                "difficulty": level,
                "price": {"amount": amount, "currency": currency},
            }
            course = await owner.ok("POST", "/courses", 201, json=body)
            if publish:
                await owner.ok("POST", f"/courses/{course['id']}/videos", 201, json=VIDEO)
                url = f"/courses/{course['id']}/publish"
                course = await owner.ok("POST", url, headers=etag_of(course))
            made[title] = course

        async def titles(client: Any, **params: Any) -> list[str]:
            page = await client.ok("GET", "/courses", params=params)
            return [c["title"] for c in page["items"]]

        published = ["SQL tuning", "Rust in depth", "Python basics"]  # newest first
        assert await titles(anonymous) == published
        assert await titles(ines) == published
        assert await titles(omar) == ["Draft notes", *published]
        assert await titles(omar, status="draft") == ["Draft notes"]
        assert await titles(anonymous, status="draft") == []
        assert await titles(anonymous, difficulty="advanced") == ["SQL tuning", "Rust in depth"]
        assert await titles(anonymous, instructor_id=ines.id) == ["Rust in depth", "Python basics"]
        assert await titles(anonymous, **{"price.amount__le": "30"}) == [
            "SQL tuning",
            "Python basics",
        ]
        assert await titles(anonymous, **{"price.amount__ge": "30", "price.currency": "EUR"}) == [
            "Rust in depth"
        ]
        assert await titles(anonymous, q="SQL") == ["SQL tuning"]
        assert await titles(anonymous, sort="price.amount") == [
            "Python basics",
            "SQL tuning",
            "Rust in depth",
        ]
        assert await titles(anonymous, sort="title") == sorted(published)
        assert await titles(anonymous, sort="-created_at") == published
        for sort in ("-rating", "-enrollment_count"):
            assert sorted(await titles(anonymous, sort=sort)) == sorted(published)
        first = await anonymous.ok("GET", "/courses", params={"limit": 2, "sort": "title"})
        rest = await anonymous.ok(
            "GET", "/courses", params={"limit": 2, "sort": "title", "cursor": first["next_cursor"]}
        )
        assert [c["title"] for c in first["items"] + rest["items"]] == sorted(published)
        await anonymous.problem("GET", "/courses", 400, params={"limit": 101})
        await anonymous.problem("GET", "/courses", 400, params={"sort": "password_hash"})
