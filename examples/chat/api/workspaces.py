"""``/workspaces`` (lamina's resource router) and ``/workspaces/{id}/members`` (by hand:
members are added by username and shown with their names)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from examples.chat.api.wiring import UNAUTHENTICATED, Wiring, problems
from examples.chat.domain import Role, Username
from examples.chat.repositories import Memberships
from examples.chat.services import MemberService, WorkspaceService
from lamina.api.etags import etag, if_match_parameter_doc, required_version
from lamina.api.list_query import ListQuery
from lamina.api.resources import Route, resource_router
from lamina.api.schemas import page_schema
from lamina.persistence import where


class MemberIn(BaseModel):
    """Who to add to a workspace, and as what (a workspace has one owner: its creator)."""

    model_config = ConfigDict(extra="forbid")

    username: Annotated[Username, Field(examples=["bob"])]
    role: Role = Role.MEMBER


class MemberOut(BaseModel):
    """A member of a workspace: the membership and the user's names."""

    id: UUID
    workspace_id: UUID
    user_id: UUID
    username: str
    display_name: str
    role: Role
    version: int
    created_at: datetime


MemberPage = page_schema(MemberOut)


def workspace_router(wiring: Wiring) -> APIRouter:
    """The workspace routes: CRUD (no restore) from the service, members by hand."""
    workspaces = wiring.service(WorkspaceService)
    members = wiring.service(MemberService)
    router = resource_router(
        WorkspaceService,
        provide=workspaces,
        path="/workspaces",
        routes={Route.LIST, Route.CREATE, Route.GET, Route.UPDATE, Route.DELETE},
        responses=UNAUTHENTICATED,
        tags=["workspaces"],
    )
    query = ListQuery(Memberships, exclude=("workspace_id",))

    def member_out(membership: Any, users: dict[UUID, Any]) -> MemberOut:
        user = users[membership.user_id]
        return MemberOut(
            **membership.model_dump(include=set(MemberOut.model_fields)),
            username=user.username,
            display_name=user.display_name,
        )

    @router.get(
        "/workspaces/{workspace_id}/members",
        response_model=MemberPage,
        summary="List the members of a workspace",
        operation_id="list_members",
        responses=problems(404),
        openapi_extra={"parameters": query.openapi_parameters()},
    )
    async def list_members(
        request: Request,
        workspace_id: UUID,
        workspace_service: WorkspaceService = Depends(workspaces),
        service: MemberService = Depends(members),
    ) -> Any:
        await workspace_service.get(workspace_id)
        q = query.parse(request.query_params.multi_items())
        page = await service.page(
            *q.filters,
            where("workspace_id") == workspace_id,
            order_by=q.order_by,
            limit=q.limit,
            cursor=q.cursor,
        )
        users = await service.users_of(page.items)
        items = [member_out(m, users) for m in page.items]
        return {"items": items, "next_cursor": page.next_cursor}

    @router.post(
        "/workspaces/{workspace_id}/members",
        status_code=201,
        response_model=MemberOut,
        summary="Add a user to a workspace (owner or admin only)",
        operation_id="add_member",
        responses=problems(403, 404, 409, 422),
    )
    async def add_member(
        workspace_id: UUID,
        body: MemberIn,
        response: Response,
        service: MemberService = Depends(members),
    ) -> MemberOut:
        added = await service.add(workspace_id, body.username, body.role)
        response.headers["ETag"] = etag(added.version)
        return member_out(added, await service.users_of([added]))

    @router.delete(
        "/workspaces/{workspace_id}/members/{user_id}",
        status_code=204,
        response_class=Response,
        summary="Remove a member from a workspace (owner or admin only)",
        operation_id="remove_member",
        responses=problems(403, 404, 409, 412, 428),
        openapi_extra={"parameters": [if_match_parameter_doc(True)]},
    )
    async def remove_member(
        workspace_id: UUID,
        user_id: UUID,
        version: int = Depends(required_version),
        service: MemberService = Depends(members),
    ) -> Response:
        await service.remove(workspace_id, user_id, expected_version=version)
        return Response(status_code=204)

    return router
