"""Use cases, one service per entity. Every row belongs to a project: members see it (others
get 404), editors and owners change it (viewers get 403), owners manage the members."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, JsonValue

from examples.etl import domain as d
from examples.etl import repositories as r
from lamina.domain import Conflict
from lamina.persistence import UnitOfWork, where
from lamina.security import Principal
from lamina.service import Links, Members, Service, Transition, Within
from lamina.validation import RecordReport, check_records

members = Members(r.Memberships, "project_id")  # owners, editors and viewers


class ProjectService(Service[d.Project, Principal]):
    repository = r.Projects
    scope = members.scope("id")
    write_scope = members.scope("id", "owner")

    async def after_create(self, uow: UnitOfWork, entity: d.Project) -> None:
        await members.join(uow, entity.id, self.principal, "owner")


MEMBER = Within("project_id", ProjectService)  # a deleted project hides what is in it
EDITOR = members.scope("project_id", "owner", "editor")


class InProject(Service[Any, Principal]):
    """Members read, editors write."""

    scope = MEMBER
    write_scope = EDITOR


class MemberService(Service[d.Membership, Principal]):
    repository = r.Memberships
    scope = MEMBER
    write_scope = members.scope("project_id", "owner")


class ComponentService(InProject):
    repository = r.Components
    dependencies = Links(
        r.Dependencies, "component_id", "depends_on_id", acyclic=True, order_by=["name"]
    )

    async def before_update(
        self, uow: UnitOfWork, current: d.Component, changes: dict[str, Any]
    ) -> dict[str, Any]:
        if changes.get("status") == "deprecated":
            active = r.Executions.subquery("job_id", where("status").in_(["queued", "running"]))
            used = (where("component_id") == current.id, where("job_id").in_(active))
            if await r.Steps(uow).exists(*used):
                raise Conflict("an active job uses this component: it cannot be deprecated")
        return changes


class MetricService(InProject):
    repository = r.Metrics


class DataclassService(InProject):
    repository = r.Dataclasses

    async def validate(
        self, id: UUID, records: Annotated[list[JsonValue], Field(min_length=1, max_length=1_000)]
    ) -> RecordReport:
        """Per record: valid, or the rules it breaks with their paths."""
        found = await self.get(id)
        return check_records(records, schema=found.schema_definition, rules=found.validation_rules)


class TagService(InProject):
    repository = r.Tags


class JobService(InProject):
    repository = r.Jobs
    tags = Links(
        r.JobTags, "job_id", "tag_id", to=TagService, by="name", create=True, again_ok=True
    )
    steps = Links(r.Steps, "job_id", "component_id", to=ComponentService, position="position")

    async def set_components(
        self,
        id: UUID,
        component_ids: Annotated[list[UUID], Field(max_length=100)],
        *,
        expected_version: int | None = None,
    ) -> d.Job:
        """Replace the job's steps with these components, in this order."""
        await self.steps.replace(id, component_ids, expected_version=expected_version)
        return await self.get(id)


class StepService(InProject):
    repository = r.Steps


class ExecutionService(InProject):
    """Executions move forward only: queued → running → succeeded | failed, or cancelled."""

    repository = r.Executions
    publishes = {
        "start": d.ExecutionStarted,
        "succeed": d.ExecutionSucceeded,
        "fail": d.ExecutionFailed,
    }
    start = Transition("status", {"queued"}, "running", stamp="started_at")
    succeed = Transition(
        "status", {"running"}, "succeeded", stamp="finished_at", takes=["rows_read", "rows_written"]
    )
    fail = Transition("status", {"running"}, "failed", stamp="finished_at", takes=["error"])
    cancel = Transition("status", {"queued", "running"}, "cancelled", stamp="finished_at")
