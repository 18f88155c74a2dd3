"""``Resources``: one app's services for each request's principal, and their routers.

Every app built on :func:`~lamina.api.resource_router` writes the same wiring:
a dependency per service class, the parent of each nested collection, and
the answers every route documents (the 401 of its authentication)::

    resources = Resources(db, current_principal)  # routes document its 401
    app.include_router(resources.router(
        TaskService, path="/projects/{project_id}/tasks",  # items at /tasks/{id}
        parent=ProjectService,  # the field from the path: resources.parent("project_id", …)
    ))

``resources.service(TaskService)`` is the FastAPI dependency giving the
request's service (one per class, shared by every router), for hand-written
routes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

from fastapi import APIRouter

from lamina.api.nesting import Parent
from lamina.api.problems import problem_responses
from lamina.api.resources import provide_service, resource_router
from lamina.persistence import Database
from lamina.service import Service, Within

S = TypeVar("S", bound=Service[Any, Any])


class Resources:
    """The services of one app, made per request for its principal, and their routers.

    ``principal`` is the dependency that authenticates the caller (for
    example lamina's ``current_principal``); ``responses`` documents further
    answers of every route (default: the 401 of the authentication).
    """

    def __init__(
        self,
        db: Database,
        principal: Callable[..., Any],
        *,
        responses: Mapping[int | str, dict[str, Any]] | None = None,
    ) -> None:
        self.db = db
        self.principal = principal
        self.responses = dict(problem_responses(401) if responses is None else responses)
        self._providers: dict[type[Any], Callable[..., Awaitable[Any]]] = {}
        self._served: dict[type[Any], set[type[Service[Any, Any]]]] = {}

    def service(self, service: type[S]) -> Callable[..., Awaitable[S]]:
        """The dependency giving ``service(db, caller)`` for each request."""
        if service not in self._providers:
            self._providers[service] = provide_service(service, self.db, self.principal)
        return self._providers[service]

    def parent(
        self, field: str, service: type[Service[Any, Any]], param: str | None = None
    ) -> Parent:
        """The parent of a nested collection: ``field`` holds its id, ``service`` finds it."""
        return Parent(field, provide=self.service(service), param=param)

    def router(self, service: type[Service[Any, Any]], **options: Any) -> APIRouter:
        """:func:`~lamina.api.resource_router` for ``service``, with this wiring's
        dependency and responses (``options``: the router's other arguments).

        ``parent`` may be the parent's service class when the collection path has one
        parameter, the field holding the parent's id: ``path="/courses/{course_id}/videos",
        parent=CourseService`` is ``parent=resources.parent("course_id", CourseService)``.
        Left out, it is read from the service's scope: a service whose ``scope`` (or
        ``write_scope``) is ``Within("course_id", CourseService)`` has that parent under a
        path whose one parameter is ``{course_id}``. Else, when that parameter is a
        ``References(Course)`` field of the entity, the parent is the service whose router
        this object made for ``Course`` earlier (if it made routers for several services of
        ``Course``, give ``parent=``).
        """
        params = re.findall(r"{(\w+)}", options.get("path", ""))
        parent = options.get("parent")
        if parent is None:
            parent = _scope_parent(service, params) or self._referenced_parent(service, params)
        self._served.setdefault(service.entity, set()).add(service)
        if isinstance(parent, type):
            if len(params) != 1:
                raise TypeError(
                    f"{service.__name__}: parent={parent.__name__} needs a path with one "
                    f"parameter (the parent's id field); use resources.parent(field, service)"
                )
            parent = self.parent(params[0], parent)
        if parent is not None:
            options["parent"] = parent
        responses = {**self.responses, **options.pop("responses", {})}
        return resource_router(
            service, provide=self.service(service), responses=responses, **options
        )

    def _referenced_parent(
        self, service: type[Service[Any, Any]], params: list[str]
    ) -> type[Service[Any, Any]] | None:
        """The one service already routed for the entity the path's parameter references."""
        referenced = service.entity.references().get(params[0]) if len(params) == 1 else None
        if referenced is None:
            return None
        candidates = self._served.get(referenced, set())
        if len(candidates) > 1:
            names = ", ".join(sorted(c.__name__ for c in candidates))
            raise TypeError(
                f"{service.__name__}: {params[0]} references a "
                f"{referenced.__name__}, served by {names}: give parent="
            )
        return next(iter(candidates), None)


def _scope_parent(
    service: type[Service[Any, Any]], params: list[str]
) -> type[Service[Any, Any]] | None:
    """The parent service of a ``Within`` scope on the path's one parameter, or None."""
    for scope in (service.scope, service.write_scope):
        if isinstance(scope, Within) and scope.key == "id" and [scope.field] == params:
            return cast("type[Service[Any, Any]]", scope.parent)
    return None
