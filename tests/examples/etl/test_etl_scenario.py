"""The issue's scenario over HTTP against the real app, on SQLite and PostgreSQL: a project with
an owner, a viewer and an outsider; secret configuration; dependencies and a refused cycle;
dataclass validation; a tagged job with ordered components; executions; bulk metrics;
sparse fieldsets."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from etl_testkit import ANSWERS, KEYRING, Client, if_match, serving, user_on
from examples.etl.repositories import Components
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lamina.events import EventStore
from lamina.persistence import Database

SECRET = "hunter2-very-secret"
NEW_SECRET = "correct-horse-secret"


async def make_project(olga: Client, victor: Client) -> tuple[str, dict[str, Any]]:
    project = await olga.ok("POST", "/projects", 201, json={"name": "Sales"})
    pid = project["id"]
    member = {"user_id": victor.id, "role": "viewer"}
    await olga.ok("POST", f"/projects/{pid}/members", 201, json=member)
    return pid, project


async def make_components(olga: Client, pid: str) -> dict[str, dict[str, Any]]:
    made = {}
    for name, kind in [("extract", "extractor"), ("clean", "transformer"), ("load", "loader")]:
        body: dict[str, Any] = {"name": name, "component_type": kind}
        if name == "load":
            config = {"url": "postgresql://warehouse/sales", "password": SECRET}
            body |= {"configuration": config, "secret_keys": ["password"]}
        made[name] = await olga.ok("POST", f"/projects/{pid}/components", 201, json=body)
    return made


async def everything_stored(url: str) -> str:
    """Every value of every app and lamina table, as text."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: c.dialect.get_table_names(c))
            rows = []
            for name in names:
                rows += [str(r) for r in await conn.execute(text(f'SELECT * FROM "{name}"'))]
    finally:
        await db.close()
    return "\n".join(rows)


def database_files(url: str) -> bytes:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return b""
    path = Path(parsed.database or "")
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_the_etl_scenario(
    etl_url: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    ANSWERS.clear()
    async with (
        serving(etl_url, access_log=True) as base,
        user_on(base, "olga") as olga,
        user_on(base, "victor") as victor,
        user_on(base, "otto") as otto,
    ):
        pid, _ = await make_project(olga, victor)
        members = await victor.ok("GET", f"/projects/{pid}/members")
        assert sorted(m["role"] for m in members["items"]) == ["owner", "viewer"]
        c = await make_components(olga, pid)
        load = c["load"]

        # --- secrets: masked in every answer, writable, readable to the runtime
        assert load["configuration"] == {"url": "postgresql://warehouse/sales", "password": "****"}
        assert "secrets" not in load
        got = await victor.ok("GET", f"/components/{load['id']}")
        assert got["configuration"]["password"] == "****"
        changed = {"configuration": {**got["configuration"], "url": "postgresql://dw/sales"}}
        load = await olga.ok(
            "PATCH", f"/components/{load['id']}", json=changed, headers=if_match(got)
        )
        db = Database(etl_url, keyring=KEYRING)
        try:
            runtime = (await Components(db).get(UUID(load["id"]))).revealed_configuration()
            assert runtime == {"url": "postgresql://dw/sales", "password": SECRET}
            replaced = {"configuration": {"url": "x", "password": NEW_SECRET}}
            load = await olga.ok(
                "PATCH", f"/components/{load['id']}", json=replaced, headers=if_match(load)
            )
            assert load["configuration"]["password"] == "****"
            runtime = (await Components(db).get(UUID(load["id"]))).revealed_configuration()
            assert runtime["password"] == NEW_SECRET
        finally:
            await db.close()
        history = await olga.ok("GET", f"/components/{load['id']}/history")
        assert [e["action"] for e in history["items"]] == ["create", "update", "update"]

        # --- dependencies: a cycle is refused, naming it
        ids = {name: item["id"] for name, item in c.items()}
        dep = "/components/{}/dependencies/{}"
        await olga.ok("POST", dep.format(ids["clean"], ids["extract"]), 204)
        await olga.ok("POST", dep.format(ids["load"], ids["clean"]), 204)
        cycle = await olga.problem("POST", dep.format(ids["extract"], ids["load"]), 409)
        assert "extract → load → clean → extract" in cycle["detail"]
        itself = await olga.problem("POST", dep.format(ids["clean"], ids["clean"]), 409)
        assert "clean → clean" in itself["detail"]
        await olga.problem("POST", dep.format(ids["load"], ids["clean"]), 409)  # there already
        direct = await victor.ok("GET", f"/components/{ids['load']}/dependencies")
        assert [i["name"] for i in direct["items"]] == ["clean"]
        every = await victor.ok("GET", f"/components/{ids['load']}/dependencies?transitive=true")
        assert [i["name"] for i in every["items"]] == ["clean", "extract"]
        assert all(i["configuration"].get("password") in (None, "****") for i in every["items"])

        # --- a dataclass definition validating records, with paths
        schema = {
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "lines": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"qty": {"type": "integer"}}},
                },
            },
            "required": ["amount"],
        }
        rules = [
            {"kind": "required", "field": "customer.id"},
            {"kind": "range", "field": "amount", "min": 0, "max": 1000},
            {"kind": "format", "field": "currency", "pattern": "[A-Z]{3}"},
            {"kind": "enum", "field": "channel", "values": ["web", "shop"]},
            {"kind": "compare", "field": "starts", "op": "<", "other": "ends"},
        ]
        body = {
            "name": "Sale",
            "dataclass_type": "record",
            "schema_definition": schema,
            "validation_rules": rules,
            "component_id": ids["extract"],
        }
        await olga.problem(
            "POST",
            f"/projects/{pid}/dataclasses",
            422,
            json={**body, "schema_definition": {"type": 12}},
        )
        await olga.problem(
            "POST",
            f"/projects/{pid}/dataclasses",
            422,
            json={**body, "validation_rules": [{"kind": "format", "field": "a"}]},
        )
        sale = await olga.ok("POST", f"/projects/{pid}/dataclasses", 201, json=body)
        good = {
            "amount": 10,
            "currency": "EUR",
            "channel": "web",
            "customer": {"id": 7},
            "starts": 1,
            "ends": 2,
            "lines": [{"qty": 1}],
        }
        bad = {
            "amount": 5000,
            "currency": "euro",
            "channel": "fax",
            "customer": {},
            "starts": 3,
            "ends": 2,
            "lines": [{"qty": 1}, {"qty": "two"}],
        }
        report = await victor.ok(
            "POST", f"/dataclasses/{sale['id']}/validate", json={"records": [good, bad, {}]}
        )
        first, second, third = report["results"]
        assert (first["valid"], first["errors"]) == (True, [])
        assert second["valid"] is False
        assert sorted((e["path"], e["rule"]) for e in second["errors"]) == [
            ("amount", "range"),
            ("channel", "enum"),
            ("currency", "format"),
            ("customer.id", "required"),
            ("lines.1.qty", "schema"),
            ("starts", "compare"),
        ]
        assert ("amount", "schema") in [(e["path"], e["rule"]) for e in third["errors"]]
        await victor.problem(
            "POST", f"/dataclasses/{sale['id']}/validate", 422, json={"records": [{}] * 1001}
        )

        # --- a job with ordered components and tags
        await olga.problem(
            "POST", f"/projects/{pid}/jobs", 422, json={"name": "x", "num_of_retries": 11}
        )
        job_body = {"name": "nightly-sales", "num_of_retries": 3, "strategy_type": "parallel"}
        job = await olga.ok("POST", f"/projects/{pid}/jobs", 201, json=job_body)
        order = [ids["extract"], ids["clean"], ids["load"]]
        await olga.ok("PUT", f"/jobs/{job['id']}/components", json={"component_ids": order})
        steps = await victor.ok("GET", f"/jobs/{job['id']}/components")
        assert [(s["component_id"], s["position"]) for s in steps["items"]] == [
            (order[0], 1),
            (order[1], 2),
            (order[2], 3),
        ]
        await olga.ok("POST", f"/jobs/{job['id']}/tags/Nightly")
        await olga.ok("POST", f"/jobs/{job['id']}/tags/nightly")  # once is enough
        await olga.ok("POST", f"/projects/{pid}/jobs", 201, json={"name": "adhoc"})
        tagged = await victor.ok("GET", f"/projects/{pid}/jobs?tag=nightly")
        assert [j["name"] for j in tagged["items"]] == ["nightly-sales"]
        tags = await victor.ok("GET", f"/projects/{pid}/tags")
        assert [t["name"] for t in tags["items"]] == ["nightly"]
        await olga.problem("POST", f"/jobs/{job['id']}/tags/not%20a%20tag", 422)

        # --- executions move forward only; a component in use is not deprecated
        run = await olga.ok("POST", f"/jobs/{job['id']}/executions", 201)
        assert (run["status"], run["attempt"]) == ("queued", 1)
        load = await olga.ok("GET", f"/components/{ids['load']}")
        await olga.problem(
            "PATCH",
            f"/components/{ids['load']}",
            409,
            json={"status": "deprecated"},
            headers=if_match(load),
        )
        run = await olga.ok("POST", f"/executions/{run['id']}/start")
        assert run["status"] == "running"
        assert run["started_at"] is not None
        for bad in ({"rows_read": -1}, {"rows_read": 2**63}, {"rows": 1}, {"error": "x"}):
            await olga.problem("POST", f"/executions/{run['id']}/succeed", 422, json=bad)
        await olga.problem("POST", f"/executions/{run['id']}/fail", 422, json={"error": "x" * 2001})
        outcome = {"rows_read": 10, "rows_written": 9}
        run = await olga.ok("POST", f"/executions/{run['id']}/succeed", json=outcome)
        assert (run["status"], run["rows_written"]) == ("succeeded", 9)
        back = await olga.problem("POST", f"/executions/{run['id']}/start", 409)
        assert "succeeded" in back["detail"]
        second_run = await olga.ok("POST", f"/jobs/{job['id']}/executions", 201)
        assert second_run["attempt"] == 2
        await olga.ok("POST", f"/executions/{second_run['id']}/cancel")
        await olga.problem("POST", f"/executions/{second_run['id']}/start", 409)
        runs = await victor.ok("GET", f"/jobs/{job['id']}/executions")
        assert [r["status"] for r in runs["items"]] == ["cancelled", "succeeded"]
        await olga.ok(
            "PATCH",
            f"/components/{ids['load']}",
            json={"status": "deprecated"},
            headers=if_match(load),
        )

        # --- metrics in bulk, paged
        start = datetime(2026, 1, 1, tzinfo=UTC)
        points = [
            {
                "name": "rows",
                "value": n,
                "unit": "rows",
                "recorded_at": (start + timedelta(seconds=n)).isoformat(),
            }
            for n in range(10_000)
        ]
        metrics = f"/components/{ids['extract']}/metrics"
        stored = await olga.ok("POST", metrics, 201, json={"points": points})
        assert stored == {"stored": 10_000}
        await olga.problem("POST", metrics, 422, json={"points": [*points, points[0]]})
        naive = {**points[0], "recorded_at": "2026-01-01T00:00:00"}
        await olga.problem("POST", metrics, 422, json={"points": [naive]})
        page = await victor.ok("GET", f"{metrics}?limit=100")
        assert [p["value"] for p in page["items"]] == list(range(100))
        page = await victor.ok("GET", metrics, params={"limit": 100, "cursor": page["next_cursor"]})
        assert page["items"][0]["value"] == 100

        # --- sparse fieldsets
        listed = await victor.ok("GET", f"/projects/{pid}/components?fields=name,status&sort=name")
        assert listed["items"] == [
            {"name": "clean", "status": "draft"},
            {"name": "extract", "status": "draft"},
            {"name": "load", "status": "deprecated"},
        ]
        one = await victor.ok("GET", f"/components/{ids['load']}?fields=name,configuration")
        assert one == {"name": "load", "configuration": {"url": "x", "password": "****"}}
        await victor.problem("GET", f"/projects/{pid}/components?fields=name,secrets", 400)
        await victor.problem("GET", f"/components/{ids['load']}?fields=nope", 400)

        # --- the viewer reads but does not write (403); an outsider sees nothing (404)
        new = {"name": "x", "component_type": "loader"}
        await victor.problem("POST", f"/projects/{pid}/components", 403, json=new)
        await victor.problem(
            "PATCH",
            f"/components/{ids['clean']}",
            403,
            json={"name": "y"},
            headers={"If-Match": '"1"'},
        )
        await victor.problem("POST", dep.format(ids["extract"], ids["clean"]), 403)
        await victor.problem("POST", metrics, 403, json={"points": points[:1]})
        await victor.problem("POST", f"/jobs/{job['id']}/executions", 403)
        await victor.problem(
            "POST", f"/projects/{pid}/members", 403, json={"user_id": otto.id, "role": "owner"}
        )
        assert (await otto.ok("GET", "/projects"))["items"] == []
        for path in [
            f"/projects/{pid}",
            f"/components/{ids['load']}",
            f"/jobs/{job['id']}",
            f"/dataclasses/{sale['id']}",
            f"/executions/{run['id']}",
            f"/projects/{pid}/components",
            f"/components/{ids['load']}/dependencies",
            metrics,
        ]:
            await otto.problem("GET", path, 404)
        await otto.problem("POST", f"/projects/{pid}/components", 404, json=new)
        await otto.problem(
            "POST", f"/dataclasses/{sale['id']}/validate", 404, json={"records": [{}]}
        )

    # --- events of the executions
    db = Database(etl_url)
    try:
        types = [e.event_type for e in await EventStore(db).read(after=0, limit=100)]
    finally:
        await db.close()
    assert types == ["job.execution.started", "job.execution.succeeded"]

    # --- the secret is nowhere: answers, logs, output, tables, the database file
    shown = {
        "answers": "\n".join(ANSWERS),
        "logs": "\n".join(
            caplog.handler.format(r) for r in caplog.records if not r.name.startswith("httpx")
        ),
        "output": "".join(capfd.readouterr()),
        "stored": await everything_stored(etl_url),
    }
    leaks = [where for where, text in shown.items() if SECRET in text or NEW_SECRET in text]
    assert leaks == []
    files = database_files(etl_url)
    assert SECRET.encode() not in files
    assert NEW_SECRET.encode() not in files


async def test_a_deleted_project_hides_what_is_in_it(etl_url: str) -> None:
    async with (
        serving(etl_url) as base,
        user_on(base, "olga") as olga,
        user_on(base, "victor") as victor,
    ):
        pid, project = await make_project(olga, victor)
        extract = (await make_components(olga, pid))["extract"]
        await olga.ok("DELETE", f"/projects/{pid}", 204, headers=if_match(project))
        for who in (olga, victor):  # G1 and G10: gone with its project, for every member
            await who.problem("GET", f"/components/{extract['id']}", 404)
            await who.problem("GET", f"/projects/{pid}/components", 404)
        await olga.problem("POST", f"/projects/{pid}/components", 404, json={"name": "x"})
        await olga.ok("POST", f"/projects/{pid}/restore", 200)
        assert (await victor.ok("GET", f"/components/{extract['id']}"))["name"] == "extract"
