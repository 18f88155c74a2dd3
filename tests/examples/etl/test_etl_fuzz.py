"""G11 for the ETL registry: schemathesis sends generated requests to every operation.

Valid and invalid requests, as the owner of a seeded project, with the ids of real rows in
the path now and then; every check schemathesis has must pass: never a 5xx, every answer
documented and matching its schema. Derandomized, so a failure reproduces (see the chat
service's fuzz test, which this one follows).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import schemathesis
from etl_testkit import serving, user_on
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator, SchemaError
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
    ("POST", "/auth/logout"),  # would revoke the token the run uses
}


def _only_what_the_server_can_know(
    case: schemathesis.Case, data: st.DataObject, users: list[str]
) -> None:
    """Make a valid request valid for this server's state too, where no schema can say it:
    cursors come from ``next_cursor`` (a made-up one is refused as tampered), and free-form
    JSON holds no NUL at any depth (JSON Schema says it of every typed text, but cannot of
    nested free-form values)."""
    if case.query:
        case.query.pop("cursor", None)
    body = case.body if isinstance(case.body, dict) else {}
    if "user_id" in body:
        body["user_id"] = data.draw(st.sampled_from(users))
    if "schema_definition" in body:  # a JSON Schema document: the OpenAPI schema cannot say
        try:
            Draft202012Validator.check_schema(body["schema_definition"])
        except SchemaError:
            reject()
    for rule in body.get("validation_rules") or []:  # nor that a pattern is a valid regex
        try:
            re.compile(rule.get("pattern", "") if isinstance(rule, dict) else "")
        except re.error:
            reject()
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


async def test_g11_generated_requests_get_documented_answers_never_5xx(etl_url: str) -> None:
    async with serving(etl_url) as base, user_on(base, "olga") as olga, user_on(base, "vic") as vic:
        pid = (await olga.ok("POST", "/projects", 201, json={"name": "Seed"}))["id"]
        await olga.ok("POST", f"/projects/{pid}/members", 201, json={"user_id": vic.id})
        body = {
            "name": "c",
            "component_type": "loader",
            "configuration": {"pw": "x"},
            "secret_keys": ["pw"],
        }
        component = await olga.ok("POST", f"/projects/{pid}/components", 201, json=body)
        dataclass = await olga.ok(
            "POST",
            f"/projects/{pid}/dataclasses",
            201,
            json={"name": "d", "dataclass_type": "event"},
        )
        job = await olga.ok("POST", f"/projects/{pid}/jobs", 201, json={"name": "j"})
        run = await olga.ok("POST", f"/jobs/{job['id']}/executions", 201)
        await olga.ok("POST", f"/jobs/{job['id']}/tags/t")
        tag = (await olga.ok("GET", f"/projects/{pid}/tags"))["items"][0]
        spec = (await olga.client.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(spec, config=CONFIG)
        loop = asyncio.get_running_loop()
        token = olga.client.headers["Authorization"]
        ids = st.sampled_from(
            [pid, component["id"], dataclass["id"], job["id"], run["id"], tag["id"], vic.id]
        )

        def send(case: schemathesis.Case) -> httpx.Response:
            try:
                request = olga.client.build_request(**_request(case, base))
            except httpx.InvalidURL:
                reject()
            sent = olga.client.send(request)
            return asyncio.run_coroutine_threadsafe(sent, loop).result(timeout=60)

        def run_checks(operation: Any, mode: GenerationMode) -> None:
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
                if mode is GenerationMode.POSITIVE:
                    if case.path_parameters and data.draw(st.booleans()):
                        for name in case.path_parameters:
                            if name != "tag":
                                case.path_parameters[name] = data.draw(ids)
                    _only_what_the_server_can_know(case, data, [olga.id, vic.id])
                case.validate_response(send(case), checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE

        operations = [result.ok() for result in schema.get_all_operations()]
        tested = [op for op in operations if (op.method.upper(), op.path) not in SKIPPED]
        failures = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for op in tested:
                try:
                    await asyncio.to_thread(run_checks, op, mode)
                except FailureGroup as group:
                    found = {" ".join(str(e).split())[:200] for e in group.exceptions}
                    name = f"{op.method.upper()} {op.path} ({mode.value})"
                    failures.append(f"{name}: {sorted(found)}")
        assert not failures, "\n".join(failures)
