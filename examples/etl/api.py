"""The routes: lamina's resource routers over the services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from examples.etl import services as s
from lamina.api import (
    DEFAULT_ROUTES,
    CreateMany,
    IfMatch,
    ResourceAction,
    Resources,
    Route,
)


def routers(resources: Resources) -> list[APIRouter]:
    """Every route of the service but the accounts'."""
    items = {*DEFAULT_ROUTES, Route.HISTORY}

    def under(service: type[s.Service[Any, Any]], name: str, **options: Any) -> APIRouter:
        path = f"/projects/{{project_id}}/{name}"
        return resources.router(service, path=path, **options)  # parent: ProjectService

    return [
        resources.router(s.ProjectService, path="/projects", routes=items),
        under(
            s.MemberService,
            "members",
            routes={Route.LIST, Route.CREATE, Route.UPDATE, Route.DELETE},
        ),
        under(
            s.ComponentService,
            "components",
            routes=items,
            actions=ResourceAction.links(s.ComponentService, "dependencies"),
        ),
        resources.router(
            s.MetricService,
            path="/components/{component_id}/metrics",
            routes={Route.LIST, Route.CREATE_MANY},
            create_many=CreateMany(items="points", max_items=10_000, answer="stored"),
        ),
        under(
            s.DataclassService,
            "dataclasses",
            routes=items,
            actions=[ResourceAction("validate", s.DataclassService.validate, errors=())],
        ),
        under(
            s.JobService,
            "jobs",
            routes=items,
            query_filters={"tag": s.JobService.tags.having},
            actions=[
                ResourceAction(
                    "components",
                    s.JobService.set_components,
                    method="PUT",
                    if_match=IfMatch.OPTIONAL,
                ),
                *ResourceAction.links(s.JobService, "tags", param="tag", answer_item=True),
            ],
        ),
        resources.router(
            s.StepService,
            path="/jobs/{id}/components",
            routes={Route.LIST},
            parent=resources.parent("job_id", s.JobService, param="id"),
        ),
        resources.router(
            s.ExecutionService,
            path="/jobs/{id}/executions",
            item_path="/executions/{id}",
            parent=resources.parent("job_id", s.JobService, param="id"),
            routes={Route.LIST, Route.GET, Route.CREATE},  # a run: an empty POST
            # start, succeed, fail, cancel: a runner reports on the current row, no If-Match
            actions=ResourceAction.transitions(s.ExecutionService, if_match=IfMatch.NONE),
        ),
        under(s.TagService, "tags", routes={Route.LIST, Route.GET, Route.DELETE}),
    ]
