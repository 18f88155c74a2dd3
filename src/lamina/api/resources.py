"""Resource routers: list / count / get / create / update / delete / restore from a service.

::

    projects = provide_service(ProjectService, db, current_principal)
    app.include_router(resource_router(ProjectService, provide=projects, path="/projects"))
    app.include_router(resource_router(
        TaskService, provide=provide_service(TaskService, db, current_principal),
        path="/projects/{project_id}/tasks", item_path="/tasks/{id}",
        parent=Parent("project_id", provide=projects),
    ))

mounts ``GET|POST /projects/{project_id}/tasks`` and ``GET|PATCH|DELETE
/tasks/{id}``, ``POST /tasks/{id}/restore`` (the derived input schemas leave
``project_id`` out: the path gives it); ``Route.HISTORY`` adds ``GET
/tasks/{id}/history`` (the audit entries, a page at a time) and ``actions=``
the resource's use cases beyond CRUD (:mod:`lamina.api.actions`). Every route goes through the
service, so the principal's scope applies to all of them: a row of another
tenant, or a parent it cannot see, is 404 (G10). Lists take the filters,
``sort``, ``limit`` and ``cursor`` of :class:`~lamina.api.list_query.ListQuery`
and answer ``{items, next_cursor}``; lists and gets take ``fields=a,b`` to
return only those fields of each item (sparse fieldsets; an unknown one is a
400). Responses carry ``ETag`` (the version, see :mod:`lamina.api.etags`);
PATCH and DELETE require ``If-Match``. Turn routes off with ``routes=``; to
override one, turn it off and add your own route to the returned router, or
override the service's use case. Errors are problem+json (install
:func:`lamina.api.install` on the app).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import JSONResponse, Response

from lamina.api.actions import PATH_PARAM, IfMatch, ResourceAction, check_actions
from lamina.api.create_many import CreateMany, mount_create_many
from lamina.api.endpoints import JSON, Renderer, action_endpoint, take_body
from lamina.api.etags import (
    etag_header_doc,
    if_match_parameter_doc,
    no_version,
    optional_version,
    required_version,
)
from lamina.api.list_query import (
    CURSOR_PATTERN,
    ListQuery,
    fields_parameter,
    only_parameters,
    parse_fields,
)
from lamina.api.nesting import Parent, check_parent, parent_dependency
from lamina.api.problems import problem_responses
from lamina.api.schemas import Count, ResourceSchemas, page_schema, partial_schema
from lamina.domain.entity import Entity
from lamina.persistence import AuditEntry, Database, Filter, where
from lamina.service import Service

S = TypeVar("S", bound=Service[Any, Any])


class Route(enum.StrEnum):
    """The routes a resource router can mount."""

    LIST = "list"
    COUNT = "count"
    GET = "get"
    CREATE = "create"
    CREATE_MANY = "create_many"
    """``POST {path}`` taking a list of items to create at once, all or none (``create_many=
    CreateMany(...)`` says the body's and the answer's keys and the most items at a time;
    ``Service.create_many``). Not with ``CREATE``, which has the same path and method."""
    UPDATE = "update"
    DELETE = "delete"
    PUT_MINE = "put_mine"
    """``PUT {path}`` of a nested collection: the caller's own item in the parent, created or
    replaced from the body (``PUT /videos/{id}/progress``): 200 with it (``Service.put_mine``;
    the owner field and the parent's field must be unique together)."""
    DELETE_MINE = "delete_mine"
    """``DELETE {path}/me``: the caller's own item of the collection (in its parent, for a
    nested one) deleted, without ``If-Match``: 204, or 404 when they have none
    (``Service.delete_mine``; the service needs an ``owner_field``)."""
    RESTORE = "restore"
    HISTORY = "history"
    """``GET {item_path}/history``: the audit entries, oldest first, a page at a time."""
    ERASE = "erase"
    """``POST {item_path}/erase``: the entity's data erased for good (``Service.erase``)."""


DEFAULT_ROUTES = frozenset(
    {Route.LIST, Route.GET, Route.CREATE, Route.UPDATE, Route.DELETE, Route.RESTORE}
)
"""Mounted unless ``routes=`` says otherwise (``count``, ``history`` and ``erase`` are opt-in;
restore needs soft delete)."""

ITEM_ROUTES = frozenset(
    {Route.GET, Route.UPDATE, Route.DELETE, Route.RESTORE, Route.HISTORY, Route.ERASE}
)
"""The routes on ``item_path`` (a router without them needs none)."""

AuditEntryPage = page_schema(AuditEntry, name="AuditEntryPage")
"""A page of audit entries, as the history route answers it."""


def provide_service(
    service: type[S], db: Database, principal: Callable[..., Any]
) -> Callable[..., Awaitable[S]]:
    """A FastAPI dependency making ``service(db, principal)`` for each request.

    ``principal`` is the dependency that authenticates the caller (for example
    lamina's ``current_principal``); FastAPI runs it once per request however
    many services depend on it.
    """

    async def dependency(principal_value: Any = Depends(principal)) -> S:
        return service(db, principal_value)

    dependency.__name__ = f"provide_{service.__name__}"
    return dependency


def resource_router(
    service: type[Service[Any, Any]],
    *,
    provide: Callable[..., Any],
    path: str,
    item_path: str | None = None,
    schemas: ResourceSchemas | None = None,
    parent: Parent | None = None,
    routes: Collection[Route | str] = DEFAULT_ROUTES,
    default_limit: int = 50,
    max_limit: int = 100,
    query_aliases: Mapping[str, str] | None = None,
    name: str | None = None,
    tags: Sequence[str | enum.Enum] | None = None,
    responses: Mapping[int | str, dict[str, Any]] | None = None,
    actions: Sequence[ResourceAction] = (),
    query_filters: Mapping[str, Callable[[str], Filter]] | None = None,
    create_many: CreateMany | None = None,
) -> APIRouter:
    """An ``APIRouter`` with the routes of one resource, each delegating to ``service``.

    ``provide`` is the dependency giving the request's service (see
    :func:`provide_service`). ``path`` is the collection (list, count,
    create); ``item_path`` the single item, with exactly one path parameter
    (default ``{path}/{id}``; for a nested ``path`` its last segment:
    ``/courses/{course_id}/videos`` has its items at ``/videos/{id}``).
    ``schemas`` default to those derived from the entity. ``responses``
    documents further answers of every route (e.g. ``problem_responses(401)``
    for the authentication dependency). ``query_aliases`` gives list filters
    shorter names (``{"q": "title__icontains"}``). ``name`` (default: the entity's
    name in lower case) names the operations: ``list_<name>``, ``get_<name>``…
    ``actions`` mounts the resource's further use cases (see
    :class:`~lamina.api.ResourceAction`). ``query_filters`` adds list filters that
    are no field of the entity: ``{"tag": lambda name: where("id").in_(...)}`` (the value is
    text; the filter made from it is checked by the repository like any other).
    ``create_many`` configures ``Route.CREATE_MANY`` (see :class:`~lamina.api.CreateMany`).
    """
    entity = service.entity
    repository = service.repository
    schemas = schemas or ResourceSchemas.from_entity(
        entity, exclude_input={parent.field} if parent else ()
    )
    wanted = {Route(r) for r in routes}
    if Route.RESTORE in wanted and not repository.has("deleted_at"):
        wanted.discard(Route.RESTORE)
    if Route.HISTORY in wanted and not repository.audited:
        raise ValueError(f"{repository.__name__} keeps no audit trail: no history route")
    if Route.ERASE in wanted:  # a built-in action: POST {item_path}/erase
        erase = ResourceAction(
            "erase",
            service.erase,
            status_code=204,
            summary=f"Erase a {entity.__name__} for good: its row, and the values in its history",
        )
        actions = (*actions, erase)
    collection_params = PATH_PARAM.findall(path)
    actions = [
        a.with_signature_body(
            takes_target=a.on == "item" or parent is not None, entity=entity
        ).with_signature_answer(entity, schemas.out)
        for a in actions
    ]
    check_actions(actions)
    if parent is not None:
        check_parent(parent, collection_params, repository.allowed_filters(), schemas)
    elif collection_params:
        raise ValueError(f"{path}: a collection path with parameters needs parent=Parent(...)")
    item_routes = wanted & ITEM_ROUTES or any(a.on == "item" for a in actions)
    if item_path is None:
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if not item_routes:
            item_path = "/{id}"
        elif not collection_params:
            item_path = f"{path.rstrip('/')}/{{id}}"
        elif PATH_PARAM.search(last):
            raise ValueError(f"{path} ends with a parameter: give item_path, e.g. '/items/{{id}}'")
        else:
            item_path = f"/{last}/{{id}}"
    item_params = PATH_PARAM.findall(item_path)
    if len(item_params) != 1:
        raise ValueError(f"item_path {item_path!r} must have exactly one path parameter")
    id_param = item_params[0]

    versioned = "version" in entity.model_fields
    query = ListQuery(
        repository,
        default_limit=default_limit,
        max_limit=max_limit,
        exclude=(parent.field,) if parent else (),
        aliases=query_aliases,
        selectable=tuple(schemas.out.model_fields),
        custom=query_filters,
    )
    page_model = page_schema(schemas.out)
    render = Renderer(schemas.out, page_model, versioned)
    resource = name or entity.__name__.lower()
    extra = dict(responses or {})
    router = APIRouter(tags=list(tags) if tags else None)

    def documented(
        *statuses: int, success: tuple[int, dict[str, Any]] | None = None
    ) -> dict[int | str, dict[str, Any]]:
        out: dict[int | str, dict[str, Any]] = {**problem_responses(*statuses, 503)}
        if success is not None:
            out[success[0]] = success[1]
        out.update(extra)
        return out

    def location(request: Request, created: Entity) -> str:
        """The URL of a created item (its GET route)."""
        return str(request.url_for(f"get_{resource}", **{id_param: str(created.id)}))

    visible_parent = parent_dependency(parent)
    parent_field = parent.field if parent else None
    if_match_required = required_version if versioned else no_version
    if_match_optional = optional_version if versioned else no_version
    item_id = Path(alias=id_param, description=f"The id of the {entity.__name__}.")
    write_statuses = (400, 403, 404, 409, 412, 422, 428) if versioned else (400, 403, 404, 422)
    if_match = [if_match_parameter_doc(True)] if versioned else []
    ok_with_etag = (200, {"description": "OK", "headers": etag_header_doc(versioned)})

    if Route.COUNT in wanted:

        async def count_items(
            request: Request,
            service: Any = Depends(provide),
            parent_id: UUID | None = Depends(visible_parent),
        ) -> Response:
            q = query.parse(request.query_params.multi_items(), paging=False)
            filters = q.filters
            if parent_field is not None:
                filters = (*filters, where(parent_field) == parent_id)
            count = await service.count(*filters)
            return Response(Count(count=count).model_dump_json(), 200, None, JSON)

        router.add_api_route(
            f"{path.rstrip('/')}/count",
            count_items,
            methods=["GET"],
            response_model=Count,
            summary=f"Count {entity.__name__} items",
            operation_id=f"count_{resource}",
            responses=documented(400, 403, 404, 422),
            openapi_extra={"parameters": query.openapi_parameters(paging=False)},
        )

    if Route.LIST in wanted:

        async def list_items(
            request: Request,
            service: Any = Depends(provide),
            parent_id: UUID | None = Depends(visible_parent),
        ) -> Response:
            q = query.parse(request.query_params.multi_items())
            filters = q.filters
            if parent_field is not None:
                filters = (*filters, where(parent_field) == parent_id)
            page = await service.page(*filters, order_by=q.order_by, limit=q.limit, cursor=q.cursor)
            return render.page(page, fields=q.fields)

        router.add_api_route(
            path,
            list_items,
            methods=["GET"],
            response_model=page_schema(schemas.out, partial=True),
            summary=f"List {entity.__name__} items, a page at a time",
            operation_id=f"list_{resource}",
            responses=documented(400, 403, 404, 422),
            openapi_extra={"parameters": query.openapi_parameters()},
        )

    if Route.CREATE in wanted:
        create_body = schemas.create

        async def create_item(
            request: Request,
            body: Any,
            service: Any = Depends(provide),
            parent_id: UUID | None = Depends(visible_parent),
        ) -> Response:
            values = (body or create_body()).model_dump()
            if parent_field is not None:
                values[parent_field] = parent_id
            created = await service.create(values)
            headers = {"Location": location(request, created)} if Route.GET in wanted else {}
            return render.one(created, 201, headers=headers)

        take_body(create_item, create_body)
        router.add_api_route(
            path,
            create_item,
            methods=["POST"],
            status_code=201,
            response_model=schemas.out,
            summary=f"Create a {entity.__name__}",
            operation_id=f"create_{resource}",
            responses=documented(
                400,
                403,
                404,
                409,
                422,
                success=(
                    201,
                    {
                        "description": "Created",
                        "headers": {
                            **etag_header_doc(versioned),
                            "Location": {"schema": {"type": "string"}, "required": False},
                        },
                    },
                ),
            ),
        )

    if Route.CREATE_MANY in wanted:
        if Route.CREATE in wanted:
            raise ValueError(f"{path}: CREATE and CREATE_MANY are both POST {path}; choose one")
        mount_create_many(
            router,
            create_many or CreateMany(),
            path=path,
            entity_name=entity.__name__,
            create_schema=schemas.create,
            provide=provide,
            visible_parent=visible_parent,
            parent_field=parent_field,
            responses=documented(400, 403, 404, 409, 422),
            operation_id=f"create_many_{resource}",
        )

    if Route.PUT_MINE in wanted:
        if service.owner_field is None or parent_field is None:
            raise ValueError(f"{path}: PUT_MINE needs parent= and the service's owner_field")
        key = (parent_field,)

        async def put_mine(
            body: Any,
            service: Any = Depends(provide),
            parent_id: UUID | None = Depends(visible_parent),
        ) -> Response:
            values = {**(body or schemas.create()).model_dump(), parent_field: parent_id}
            return render.one(await service.put_mine(values, key=key))

        take_body(put_mine, schemas.create)
        router.add_api_route(
            path,
            put_mine,
            methods=["PUT"],
            response_model=schemas.out,
            summary=f"Set my {entity.__name__} (created, or replaced)",
            operation_id=f"put_my_{resource}",
            responses=documented(400, 403, 404, 409, 422, success=ok_with_etag),
        )

    if Route.GET in wanted:

        async def get_item(
            id: UUID = item_id,
            fields: str | None = Query(None, include_in_schema=False),
            service: Any = Depends(provide),
        ) -> Response:
            selected = None if fields is None else parse_fields(fields, query.selectable)
            return render.one(await service.get(id), fields=selected)

        router.add_api_route(
            item_path,
            get_item,
            methods=["GET"],
            name=f"get_{resource}",
            response_model=schemas.out | partial_schema(schemas.out),
            summary=f"Get one {entity.__name__}",
            operation_id=f"get_{resource}",
            responses=documented(400, 404, 422, success=ok_with_etag),
            openapi_extra={"parameters": [fields_parameter(query.selectable)]},
        )

    if Route.UPDATE in wanted:

        async def update_item(
            body: Any,
            id: UUID = item_id,
            version: int | None = Depends(if_match_required),
            service: Any = Depends(provide),
        ) -> Response:
            changes = body.model_dump(exclude_unset=True)
            return render.one(await service.update(id, changes, expected_version=version))

        update_item.__annotations__["body"] = schemas.update
        router.add_api_route(
            item_path,
            update_item,
            methods=["PATCH"],
            response_model=schemas.out,
            summary=f"Change some fields of a {entity.__name__}",
            operation_id=f"update_{resource}",
            responses=documented(*write_statuses, success=ok_with_etag),
            openapi_extra={"parameters": if_match},
        )

    if Route.DELETE_MINE in wanted:  # before DELETE {path}/{id}, which would take "me"
        if service.owner_field is None:
            raise ValueError(f"{service.__name__} has no owner_field: no {path}/me route")

        async def delete_mine(
            service: Any = Depends(provide),
            parent_id: UUID | None = Depends(visible_parent),
        ) -> Response:
            in_parent = () if parent_field is None else (where(parent_field) == parent_id,)
            await service.delete_mine(*in_parent)
            return Response(status_code=204)

        router.add_api_route(
            f"{path.rstrip('/')}/me",
            delete_mine,
            methods=["DELETE"],
            status_code=204,
            response_class=Response,
            summary=f"Delete my {entity.__name__}",
            operation_id=f"delete_my_{resource}",
            responses=documented(401, 403, 404),
        )

    if Route.DELETE in wanted:

        async def delete_item(
            id: UUID = item_id,
            version: int | None = Depends(if_match_required),
            service: Any = Depends(provide),
        ) -> Response:
            await service.delete(id, expected_version=version)
            return Response(status_code=204)

        router.add_api_route(
            item_path,
            delete_item,
            methods=["DELETE"],
            status_code=204,
            response_class=Response,
            summary=f"Delete a {entity.__name__}",
            operation_id=f"delete_{resource}",
            responses=documented(*write_statuses),
            openapi_extra={"parameters": if_match},
        )

    if Route.RESTORE in wanted:

        async def restore_item(
            id: UUID = item_id,
            version: int | None = Depends(if_match_optional),
            service: Any = Depends(provide),
        ) -> Response:
            return render.one(await service.restore(id, expected_version=version))

        restore_statuses = (400, 403, 404, 409, 412, 422) if versioned else (400, 403, 404, 409)
        router.add_api_route(
            f"{item_path.rstrip('/')}/restore",
            restore_item,
            methods=["POST"],
            response_model=schemas.out,
            summary=f"Restore a deleted {entity.__name__}",
            operation_id=f"restore_{resource}",
            responses=documented(*restore_statuses, success=ok_with_etag),
            openapi_extra={"parameters": [if_match_parameter_doc(False)] if versioned else []},
        )

    if Route.HISTORY in wanted:

        async def item_history(
            id: UUID = item_id,
            limit: int = Query(default_limit, ge=1, le=max_limit),
            cursor: str | None = Query(None, pattern=CURSOR_PATTERN),
            service: Any = Depends(provide),
        ) -> Response:
            page = await service.history_page(id, limit=limit, cursor=cursor)
            return history_render.page(page)

        history_render = Renderer(AuditEntry, AuditEntryPage, versioned=False)
        router.add_api_route(
            f"{item_path.rstrip('/')}/history",
            item_history,
            methods=["GET"],
            response_model=AuditEntryPage,
            summary=f"Who did what to a {entity.__name__}: its audit entries, oldest first",
            operation_id=f"history_{resource}",
            responses=documented(400, 404, 422),
            dependencies=[Depends(only_parameters("limit", "cursor"))],
        )

    for action in actions:
        rule = action.precondition(versioned)
        statuses = [400, 403, 404, *action.error_statuses]
        if rule is not IfMatch.NONE:
            statuses += [412, 428] if rule is IfMatch.REQUIRED else [412]
        if action.body is not None or action.query is not None:
            statuses.append(422)
        out = action.out or schemas.out
        tagged = versioned and "version" in out.model_fields  # its answer carries an ETag
        headers_doc: dict[str, Any] = dict(etag_header_doc(tagged))
        if action.success_status == 201 and Route.GET in wanted and action.out is None:
            headers_doc["Location"] = {"schema": {"type": "string"}, "required": False}
        success = None
        if action.success_status != 204:
            success = (action.success_status, {"description": "OK", "headers": headers_doc})
        router.add_api_route(
            action.route_path(path, item_path),
            action_endpoint(
                action,
                rule,
                provide=provide,
                target=item_id if action.on == "item" else Depends(visible_parent),
                render=render if action.out is None else Renderer(out, page_model, tagged),
                location=location
                if action.success_status == 201 and Route.GET in wanted and action.out is None
                else None,
            ),
            methods=[action.method],
            status_code=action.success_status,
            response_model=None if action.success_status == 204 else out,
            response_class=Response if action.success_status == 204 else JSONResponse,
            summary=action.summary_text(entity.__name__),
            operation_id=f"{action.name}_{resource}",
            responses=documented(*sorted(set(statuses)), success=success),
            openapi_extra={"parameters": [if_match_parameter_doc(rule is IfMatch.REQUIRED)]}
            if rule is not IfMatch.NONE
            else None,
        )

    return router
