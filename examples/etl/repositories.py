"""Repositories: which fields each entity can be filtered and sorted by (besides its id and
references, which every repository filters by)."""

from __future__ import annotations

from examples.etl import domain as d
from examples.etl import rows as r
from lamina.persistence import Repository

NAMED = ("name", "created_at")


class Projects(Repository[d.Project, r.ProjectRow]):
    sortable = NAMED


class Memberships(Repository[d.Membership, r.MembershipRow]):
    filterable = ("role",)


class Components(Repository[d.Component, r.ComponentRow]):
    filterable = ("component_type", "status")
    sortable = NAMED


class Dependencies(Repository[d.Dependency, r.DependencyRow]): ...


class Metrics(Repository[d.Metric, r.MetricRow]):
    filterable = {"name": ["eq"], "recorded_at": ["ge", "lt"]}
    sortable = ("recorded_at",)
    default_order = ("recorded_at",)
    audited = False  # measurements, not business changes


class Dataclasses(Repository[d.DataclassDefinition, r.DataclassRow]):
    filterable = ("dataclass_type",)
    sortable = NAMED


class Jobs(Repository[d.Job, r.JobRow]):
    filterable = ("strategy_type",)
    sortable = NAMED


class Steps(Repository[d.JobStep, r.JobStepRow]):
    sortable = ("position",)
    default_order = ("position",)


class Tags(Repository[d.Tag, r.TagRow]):
    sortable = NAMED


class JobTags(Repository[d.JobTag, r.JobTagRow]): ...


class Executions(Repository[d.JobExecution, r.ExecutionRow]):
    filterable = ("status",)
    sortable = ("created_at",)
    default_order = ("-created_at",)
