"""The routers' OpenAPI document, and a property-based run of schemathesis against it (G11).

Schemathesis generates requests for every operation from the document (valid
ones, then invalid ones); each is sent to the real app on the test database,
and every answer must be documented, never a 5xx, and match its schema.
Requests carry the id of a user who owns data, and sometimes the id and
version of an existing row, so success paths are exercised too. Hypothesis
runs in a worker thread; the app keeps running on the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.service.projects_app import USER_HEADER, ProjectsApi, Tasks, new_user, projects_api

from lamina.api import PROBLEM_MEDIA_TYPE

EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[ProjectsApi]:
    async with projects_api(db_url) as client:
        yield client


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][path][method]
    return found


def parameter_names(op: dict[str, Any], where: str) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p["in"] == where}


async def test_openapi_documents_filters_etags_and_problems(api: ProjectsApi) -> None:
    spec = api.app.openapi()

    listing = operation(spec, "get", "/projects/{project_id}/tasks")
    assert {"limit", "cursor", "sort", "title", "title__icontains", "estimate__is_null"} <= (
        parameter_names(listing, "query")
    )
    assert "title__contains" not in parameter_names(listing, "query")
    assert "project_id" not in parameter_names(listing, "query")
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (100, 50)
    assert not {"api_key", "api_key__eq"} & parameter_names(
        operation(spec, "get", "/projects"), "query"
    )
    page = spec["components"]["schemas"]["TaskPage"]
    assert set(page["properties"]) == {"items", "next_cursor"}

    update = operation(spec, "patch", "/tasks/{task_id}")
    (if_match,) = [p for p in update["parameters"] if p["name"] == "If-Match"]
    assert (if_match["in"], if_match["required"]) == ("header", True)
    assert update["responses"]["200"]["headers"]["ETag"]["required"] is True
    for status in ("400", "401", "403", "404", "409", "412", "422", "428", "503"):
        content = update["responses"][status]["content"]
        assert content[PROBLEM_MEDIA_TYPE]["schema"] == {"$ref": "#/components/schemas/Problem"}
    delete = operation(spec, "delete", "/tasks/{task_id}")
    assert "If-Match" in parameter_names(delete, "header")
    assert {"204", "412", "428"} <= set(delete["responses"])

    create = operation(spec, "post", "/projects")
    body = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][body.rsplit("/", 1)[-1]]
    assert schema["additionalProperties"] is False
    assert not {"id", "version", "created_at", "deleted_at", "created_by_id"} & set(
        schema["properties"]
    )
    out = spec["components"]["schemas"]["ProjectOut"]
    assert "api_key" not in out["properties"]
    assert {"id", "version", "created_at"} <= set(out["properties"])


def to_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Request arguments of schemathesis' requests transport, for httpx."""
    headers = {
        name: value.encode() if isinstance(value, str) else value
        for name, value in (kwargs.get("headers") or {}).items()
    }
    out = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": headers,
        "params": kwargs.get("params") or {},
    }
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        out["content"] = kwargs["data"]
    return out


async def test_g11_schemathesis_finds_no_5xx_and_no_schema_violation(api: ProjectsApi) -> None:
    owner = new_user()
    project = await api.new_project(owner, name="seed")
    task = await api.new_task(owner, project["id"], title="seed task")
    loop = asyncio.get_running_loop()
    schema = schemathesis.openapi.from_dict(api.app.openapi())

    def send(case: schemathesis.Case) -> httpx.Response:
        kwargs = to_httpx(case.as_transport_kwargs(base_url="http://testserver"))
        try:
            request = api.client.build_request(**kwargs)
        except httpx.InvalidURL:
            reject()  # longer than httpx sends (64 KiB); servers refuse such URLs anyway
        future = asyncio.run_coroutine_threadsafe(api.client.send(request), loop)
        return future.result(timeout=30)

    known_ids = st.sampled_from([project["id"], task["id"], str(new_user())])
    versions = st.sampled_from(['"1"', '"2"', None])
    users = st.sampled_from([owner, owner, new_user()])

    def run(operation: Any, mode: GenerationMode) -> None:
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION[mode],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case, data: st.DataObject) -> None:
            case.headers = {**(case.headers or {}), USER_HEADER: str(data.draw(users))}
            if case.path_parameters and data.draw(st.booleans()):
                for name in case.path_parameters:
                    case.path_parameters[name] = data.draw(known_ids)
            version = data.draw(versions)
            if version is not None and mode.is_positive and "If-Match" in case.headers:
                case.headers["If-Match"] = version
            response = send(case)
            case.validate_response(response, checks=CHECKS)

        check()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 14
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for op in operations:
            await asyncio.to_thread(run, op, mode)

    assert await Tasks(api.db).count(include_deleted=True) >= 1
    seed = await api.request(owner, "GET", f"/projects/{project['id']}")
    assert seed.status_code in (200, 404)
