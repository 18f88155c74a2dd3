"""Repositories: which fields each entity can be filtered and sorted by."""

from __future__ import annotations

from examples.etl import domain as d
from examples.etl import rows as r
from lamina.persistence import Repository

NAMED = ("name", "created_at")


class Projects(Repository[d.Project, r.ProjectRow]):
    sortable = NAMED


class Memberships(Repository[d.Membership, r.MembershipRow]):
    filterable = ("project_id", "user_id", "role")


class Components(Repository[d.Component, r.ComponentRow]):
    filterable = ("project_id", "component_type", "status", "id")
    sortable = NAMED


class Dependencies(Repository[d.Dependency, r.DependencyRow]):
    filterable = ("component_id", "depends_on_id")


class Metrics(Repository[d.Metric, r.MetricRow]):
    filterable = {"component_id": ["eq"], "name": ["eq"], "recorded_at": ["ge", "lt"]}
    sortable = ("recorded_at",)
    default_order = ("recorded_at",)
    audited = False  # measurements, not business changes


class Dataclasses(Repository[d.DataclassDefinition, r.DataclassRow]):
    filterable = ("project_id", "dataclass_type", "component_id")
    sortable = NAMED


class Jobs(Repository[d.Job, r.JobRow]):
    filterable = ("project_id", "strategy_type", "id")
    sortable = NAMED


class Steps(Repository[d.JobStep, r.JobStepRow]):
    filterable = ("job_id", "component_id")
    sortable = ("position",)
    default_order = ("position",)


class Tags(Repository[d.Tag, r.TagRow]):
    filterable = ("project_id", "name")
    sortable = NAMED


class JobTags(Repository[d.JobTag, r.JobTagRow]):
    filterable = ("job_id", "tag_id")


class Executions(Repository[d.JobExecution, r.ExecutionRow]):
    filterable = ("job_id", "status")
    sortable = ("created_at",)
    default_order = ("-created_at",)
