"""G11 for the chat service: schemathesis sends generated requests to every operation.

Valid and invalid requests, as a member of the seeded workspace, with the ids
of real rows in the path now and then; every check schemathesis has must pass:
never a 5xx, every answer documented and matching its schema, headers and
content type, valid data accepted and invalid data refused. The examples are
the same in every run (derandomized), so a failure reproduces. Hypothesis runs
in a worker thread; the server runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import schemathesis
from chat_testkit import serving, user_on
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 5}
load_all_checks()
CHECKS = list(REGISTRY.get_all())
"""Every check schemathesis has: answers documented, conforming to their schema, headers and
content type; valid data accepted, invalid data refused; missing auth refused; methods."""
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                # 412: a valid If-Match naming another version; the data itself was valid.
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]
            }
        }
    }
)
SKIPPED = {
    ("GET", "/events"),  # a stream never ends: covered by the scenario tests
    ("POST", "/auth/logout"),  # would revoke the token the run uses
}


def _only_what_the_server_can_know(case: schemathesis.Case, data: st.DataObject) -> None:
    """Make a valid request valid for this server's state too, where no schema can say it:
    cursors come from ``next_cursor`` (a made-up one is refused as tampered), a username in a
    body must belong to somebody, and free-form JSON holds no NUL at any depth (JSON Schema
    says it of every typed text, but cannot of nested free-form values)."""
    if case.query:
        case.query.pop("cursor", None)
    if isinstance(case.body, dict) and "username" in case.body:
        case.body["username"] = data.draw(st.sampled_from(["alice", "bob"]))
    if "\\u0000" in json.dumps(case.body, default=str):
        reject()  # free-form JSON (metadata) with NUL: its description says it is refused


def _request(case: schemathesis.Case, base: str) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url=base)
    out = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params") or {},
    }
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        out["content" if isinstance(kwargs["data"], str | bytes) else "data"] = kwargs["data"]
    return out


async def test_g11_generated_requests_get_documented_answers_never_5xx(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Seed"}))["id"]
        await alice.ok("POST", f"/workspaces/{ws}/members", 201, json={"username": "bob"})
        conv = await alice.ok(
            "POST", f"/workspaces/{ws}/conversations", 201, json={"title": "S", "modality": "voice"}
        )
        message = await alice.ok(
            "POST", f"/conversations/{conv['id']}/messages", 201, json={"content": "seed"}
        )
        recording = await alice.ok("POST", f"/conversations/{conv['id']}/recordings", 201, json={})
        spec = (await alice.client.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(spec, config=CONFIG)
        loop = asyncio.get_running_loop()
        token = alice.client.headers["Authorization"]
        ids = st.sampled_from([ws, conv["id"], message["id"], recording["id"], bob.id, alice.id])

        def send(case: schemathesis.Case) -> httpx.Response:
            try:
                request = alice.client.build_request(**_request(case, base))
            except httpx.InvalidURL:  # longer than any client sends (httpx refuses to)
                reject()
            sent = alice.client.send(request)
            return asyncio.run_coroutine_threadsafe(sent, loop).result(timeout=30)

        def run(operation: Any, mode: GenerationMode) -> None:
            @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
            @settings(
                max_examples=EXAMPLES[mode],
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case, data: st.DataObject) -> None:
                case.headers = {**(case.headers or {}), "Authorization": token}
                if mode is GenerationMode.POSITIVE:  # a negative case keeps what made it so
                    if case.path_parameters and data.draw(st.booleans()):
                        for name in case.path_parameters:
                            case.path_parameters[name] = data.draw(ids)
                    _only_what_the_server_can_know(case, data)
                case.validate_response(send(case), checks=CHECKS)

            try:
                check()
            except Unsatisfiable:  # no invalid request exists for an operation without inputs
                assert mode is GenerationMode.NEGATIVE

        operations = [result.ok() for result in schema.get_all_operations()]
        tested = [op for op in operations if (op.method.upper(), op.path) not in SKIPPED]
        assert len(tested) == len(operations) - len(SKIPPED)
        failures = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for op in tested:
                try:
                    await asyncio.to_thread(run, op, mode)
                except FailureGroup as group:
                    found = {" ".join(str(e).split())[:160] for e in group.exceptions}
                    name = f"{op.method.upper()} {op.path} ({mode.value})"
                    failures.append(f"{name}: {sorted(found)}")
        assert not failures, "\n".join(failures)


async def test_g11_text_no_database_stores_alike_gets_the_same_422_everywhere(
    chat_url: str,
) -> None:
    async with serving(chat_url) as base, user_on(base, "alice") as alice:
        ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
        conversations = f"/workspaces/{ws}/conversations"
        bodies = [
            b'{"title": "t", "metadata": {"k": "\\ud800"}}',  # was a 500
            b'{"title": "\\ud800"}',
            b'{"title": "nul \\u0000 inside"}',  # was stored by SQLite, refused by PostgreSQL
            b'{"title": "t", "metadata": {"n": NaN}}',  # was null on SQLite, refused elsewhere
            b'{"title": "t", "metadata": {"n": [Infinity]}}',
        ]
        for body in bodies:
            answer = await alice.call(
                "POST", conversations, content=body, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["type"].endswith("/invalid-input")
        listed = await alice.ok("GET", conversations)
        assert listed["items"] == []  # nothing was stored


async def test_undocumented_methods_get_405_naming_every_documented_method(chat_url: str) -> None:
    async with serving(chat_url) as base, user_on(base, "alice") as alice:
        spec = (await alice.client.get("/openapi.json")).json()
        for template, operations in spec["paths"].items():
            path = "/".join(  # any id fits a path parameter: 405 comes before a lookup
                "01a24147-454e-7015-a6b4-2f271c658bd7" if "{" in part else part
                for part in template.split("/")
            )
            documented = {method.upper() for method in operations}
            expected = documented | ({"HEAD"} if "GET" in documented else set())
            for method in {"PUT", "PATCH", "DELETE", "POST", "TRACE"} - documented:
                answer = await alice.call(method, path)
                assert answer.status_code == 405, (method, template, answer.status_code)
                allowed = {m.strip() for m in answer.headers["allow"].split(",")}
                assert allowed == expected, (method, template, allowed)
