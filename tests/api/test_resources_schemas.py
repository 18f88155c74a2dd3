"""Schemas derived from entities (G12) and the checks a resource router makes when built."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tests.service.projects_app import ProjectService, Task, TaskService

from lamina.api import Parent, resource_router
from lamina.api.etags import etag, expected_version
from lamina.api.problems import PreconditionRequired
from lamina.api.schemas import (
    ResourceSchemas,
    check_input_schema,
    create_schema,
    output_schema,
    page_schema,
    update_schema,
)
from lamina.domain import (
    READ_ONLY,
    SENSITIVE,
    ActorTracked,
    Entity,
    InvalidInput,
    SoftDeletable,
    Timestamped,
    ValueObject,
    Versioned,
)

SERVER_OWNED = {"id", "created_at", "updated_at", "deleted_at", "version", "created_by_id"}


class Window(ValueObject):
    opens_at: datetime
    minutes: int = 30


class Meeting(Timestamped, SoftDeletable, Versioned, ActorTracked, Entity):
    title: Annotated[str, Field(min_length=1, max_length=50, description="What it is about")]
    notes: str | None = None
    seats: Annotated[int, Field(ge=1)] = 10
    window: Window | None = None
    room_code: Annotated[str, SENSITIVE] = "0000"
    organizer_id: Annotated[UUID | None, READ_ONLY] = None
    tags: list[str] = Field(default_factory=list)


def test_g12_create_schema_has_only_client_settable_fields() -> None:
    schema = create_schema(Meeting)
    assert schema.__name__ == "MeetingCreate"
    assert set(schema.model_fields) == {"title", "notes", "seats", "window", "room_code", "tags"}
    assert schema.model_fields["title"].is_required()
    assert not schema.model_fields["seats"].is_required()
    created = schema.model_validate({"title": "standup"})
    assert created.model_dump()["seats"] == 10
    for field in (*SERVER_OWNED, "organizer_id", "unknown"):
        with pytest.raises(ValidationError) as caught:
            schema.model_validate({"title": "standup", field: None})
        assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_create_schema_keeps_the_entitys_rules_and_tightens_types() -> None:
    schema = create_schema(Meeting)
    json_schema = schema.model_json_schema()
    title = json_schema["properties"]["title"]
    assert (title["minLength"], title["maxLength"], title["description"]) == (
        1,
        50,
        "What it is about",
    )
    assert json_schema["properties"]["seats"]["minimum"] == 1
    bad_values: list[dict[str, Any]] = [
        {"title": ""},
        {"title": "t", "seats": 0},
        {"title": "t", "seats": 2**63},
        {"title": "t", "window": {"opens_at": "2030-01-01T10:00:00"}},
        {"title": "t", "window": {"opens_at": "2030-01-01T10:00:00Z", "extra": 1}},
        {"title": "t", "window": {"opens_at": "0001-01-01T00:00:00+01:00"}},
    ]
    for values in bad_values:
        with pytest.raises(ValidationError):
            schema.model_validate(values)
    window = {"opens_at": "2030-01-01T12:00:00+02:00"}
    good = schema.model_validate({"title": "t", "window": window})
    assert good.model_dump()["window"]["opens_at"] == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert Meeting.model_validate(good.model_dump()).window == Window(
        opens_at=datetime(2030, 1, 1, 10, tzinfo=UTC)
    )


def test_update_schema_is_partial_and_keeps_null_only_where_allowed() -> None:
    schema = update_schema(Meeting)
    assert set(schema.model_fields) == set(create_schema(Meeting).model_fields)
    assert schema.model_validate({}).model_dump(exclude_unset=True) == {}
    assert schema.model_validate({"notes": None}).model_dump(exclude_unset=True) == {"notes": None}
    assert schema.model_validate({"seats": 3}).model_dump(exclude_unset=True) == {"seats": 3}
    for values in ({"title": None}, {"seats": None}, {"seats": 0}, {"version": 2}, {"x": 1}):
        with pytest.raises(ValidationError):
            schema.model_validate(values)
    properties = schema.model_json_schema()["properties"]
    assert "default" not in properties["title"]
    assert "default" not in properties["seats"]
    assert schema.model_json_schema().get("required", []) == []


def test_output_schema_hides_sensitive_fields() -> None:
    schema = output_schema(Meeting)
    assert "room_code" not in schema.model_fields
    assert SERVER_OWNED | {"organizer_id", "title"} <= set(schema.model_fields)
    meeting = Meeting(title="t", room_code="1234")
    shown = schema.model_validate(meeting, from_attributes=True).model_dump(mode="json")
    assert "1234" not in str(shown)
    assert shown["id"] == str(meeting.id)
    serialized = schema.model_json_schema(mode="serialization")
    assert set(serialized["required"]) == set(schema.model_fields)


def test_page_schema_is_items_and_next_cursor() -> None:
    page = page_schema(output_schema(Meeting))
    assert page.__name__ == "MeetingPage"
    assert set(page.model_fields) == {"items", "next_cursor"}


def test_schemas_can_be_written_by_hand_but_must_stay_safe() -> None:
    class MeetingCreate(BaseModel):
        model_config = ConfigDict(extra="forbid")
        title: str

    schemas = ResourceSchemas.from_entity(Meeting, create=MeetingCreate, exclude_input={"tags"})
    assert schemas.create is MeetingCreate
    assert "tags" not in schemas.update.model_fields

    class Lenient(BaseModel):
        title: str

    class Leaky(BaseModel):
        model_config = ConfigDict(extra="forbid")
        title: str
        version: int

    class SetsOrganizer(BaseModel):
        model_config = ConfigDict(extra="forbid")
        organizer_id: UUID

    for schema in (Lenient, Leaky, SetsOrganizer):
        with pytest.raises(TypeError):
            check_input_schema(schema, Meeting)
        with pytest.raises(TypeError):
            ResourceSchemas.from_entity(Meeting, update=schema)


def test_etags_are_strong_versions_and_if_match_is_strict() -> None:
    assert etag(3) == '"3"'
    assert expected_version('"3"') == 3
    assert expected_version('  "12" ') == 12
    for missing in (None, "", "  ", "*"):
        with pytest.raises(PreconditionRequired):
            expected_version(missing)
    for malformed in ('W/"3"', "3", '"3", "4"', '"x"', '"-1"', '"' + "1" * 19 + '"'):
        with pytest.raises(InvalidInput):
            expected_version(malformed)


async def _provide() -> None:
    return None


def test_a_router_refuses_unsafe_or_ambiguous_configurations() -> None:
    with pytest.raises(ValueError, match="needs parent"):
        resource_router(TaskService, provide=_provide, path="/projects/{project_id}/tasks")
    with pytest.raises(ValueError, match="ends with a parameter: give item_path"):
        resource_router(
            TaskService,
            provide=_provide,
            path="/projects/{project_id}",
            parent=Parent("project_id", provide=_provide),
        )
    nested = resource_router(
        TaskService,
        provide=_provide,
        path="/projects/{project_id}/tasks",
        parent=Parent("project_id", provide=_provide),
    )
    assert "/tasks/{id}" in {route.path for route in nested.routes}  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="filterable"):
        resource_router(
            ProjectService,
            provide=_provide,
            path="/owners/{owner_id}/projects",
            item_path="/projects/{id}",
            parent=Parent("owner_id", provide=_provide),
        )
    with pytest.raises(ValueError, match="must not contain"):
        resource_router(
            TaskService,
            provide=_provide,
            path="/projects/{project_id}/tasks",
            item_path="/tasks/{id}",
            parent=Parent("title", provide=_provide, param="project_id"),
            schemas=ResourceSchemas.from_entity(Task),
        )
    with pytest.raises(ValueError, match="exactly one path parameter"):
        resource_router(ProjectService, provide=_provide, path="/projects", item_path="/projects")
    router = resource_router(ProjectService, provide=_provide, path="/projects", routes=["get"])
    assert [route.path for route in router.routes] == ["/projects/{id}"]  # type: ignore[attr-defined]


def test_a_nested_value_objects_own_validators_run_in_the_input_schema() -> None:
    from typing import Self

    from pydantic import StringConstraints, model_validator

    from lamina.domain import ValueObject

    class Question(ValueObject):
        prompt: Annotated[str, StringConstraints(min_length=1)]
        choices: list[str]
        answer: int

        @model_validator(mode="after")
        def _answer_is_a_choice(self) -> Self:
            if self.answer >= len(self.choices):
                raise ValueError("answer must be the index of a choice")
            return self

    class Quiz(Entity):
        questions: list[Question]

    schema = create_schema(Quiz)
    schema.model_validate({"questions": [{"prompt": "p", "choices": ["a", "b"], "answer": 1}]})
    with pytest.raises(ValidationError, match="index of a choice"):
        schema.model_validate({"questions": [{"prompt": "p", "choices": ["a"], "answer": 1}]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        schema.model_validate({"questions": [{"prompt": "p", "choices": [], "answer": 0, "x": 1}]})


def test_optional_input_fields_may_be_left_out_on_create_only() -> None:
    from tests.service.projects_app import Task

    schemas = ResourceSchemas.from_entity(
        Task, exclude_input={"project_id"}, optional_input={"title"}
    )
    assert schemas.create.model_validate({}).title is None  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        schemas.create.model_validate({"title": ""})  # still checked when given
    with pytest.raises(ValueError, match="client-settable"):
        create_schema(Task, optional={"project_id"})


def test_a_hand_written_request_body_refuses_unknown_fields() -> None:
    from pydantic import ValidationError

    from lamina.api import RequestBody

    class RoleChange(RequestBody):
        role: str

    assert RoleChange.model_validate({"role": "owner"}).role == "owner"
    with pytest.raises(ValidationError, match="extra_forbidden"):
        RoleChange.model_validate({"role": "owner", "is_admin": True})
