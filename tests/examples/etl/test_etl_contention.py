"""Concurrent writes over HTTP: dependencies added at the same time never close a cycle, and
concurrent runs of one job get distinct attempt numbers."""

from __future__ import annotations

import asyncio

from etl_testkit import serving, user_on


async def test_concurrent_dependencies_never_close_a_cycle(etl_url: str) -> None:
    async with serving(etl_url) as base, user_on(base, "olga") as olga:
        pid = (await olga.ok("POST", "/projects", 201, json={"name": "P"}))["id"]
        ids = []
        for name in "abcd":
            body = {"name": name, "component_type": "transformer"}
            ids.append((await olga.ok("POST", f"/projects/{pid}/components", 201, json=body))["id"])
        ring = [(ids[i], ids[(i + 1) % len(ids)]) for i in range(len(ids))]  # a → b → c → d → a
        answers = await asyncio.gather(
            *(olga.client.post(f"/components/{x}/dependencies/{y}") for x, y in ring)
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [204, 204, 204, 409], [a.text for a in answers]
        for x in ids:  # what was stored is acyclic: nothing depends on itself, transitively
            reached = await olga.ok("GET", f"/components/{x}/dependencies?transitive=true")
            assert x not in [c["id"] for c in reached["items"]]


async def test_concurrent_runs_of_a_job_are_numbered_once_each(etl_url: str) -> None:
    async with serving(etl_url) as base, user_on(base, "olga") as olga:
        pid = (await olga.ok("POST", "/projects", 201, json={"name": "P"}))["id"]
        job = await olga.ok("POST", f"/projects/{pid}/jobs", 201, json={"name": "j"})
        answers = await asyncio.gather(
            *(olga.client.post(f"/jobs/{job['id']}/executions") for _ in range(6))
        )
        assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
        assert sorted(a.json()["attempt"] for a in answers) == [1, 2, 3, 4, 5, 6]
