"""``/workspaces`` and ``/workspaces/{id}/members`` (lamina's resource routers: members
are added and removed by actions, by username and user id; their list, which shows the
users' names, by hand)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from examples.chat.api.wiring import problems
from examples.chat.domain import Role, Username
from examples.chat.repositories import Memberships
from examples.chat.services import Member, MemberService, WorkspaceService
from lamina.api import (
    IfMatch,
    ListQuery,
    RequestBody,
    ResourceAction,
    Resources,
    Route,
    page_schema,
)


class MemberIn(RequestBody):
    """Who to add to a workspace, and as what (a workspace has one owner: its creator)."""

    username: Annotated[Username, Field(examples=["bob"])]
    role: Role = Role.MEMBER


MemberPage = page_schema(Member)


def workspace_router(resources: Resources) -> APIRouter:
    """The workspace routes (no restore) and their members' (added by username, shown with
    their names)."""
    workspaces = resources.service(WorkspaceService)
    members = resources.service(MemberService)
    router = resources.router(
        WorkspaceService,
        path="/workspaces",
        routes={Route.LIST, Route.CREATE, Route.GET, Route.UPDATE, Route.DELETE},
        tags=["workspaces"],
    )
    members_path = "/workspaces/{workspace_id}/members"
    router.include_router(
        resources.router(
            MemberService,
            path=members_path,
            parent=resources.parent("workspace_id", WorkspaceService),
            routes=(),
            name="member",
            tags=["workspaces"],
            actions=[
                ResourceAction(
                    "add",
                    MemberService.add,
                    body=MemberIn,
                    on="collection",
                    path="",
                    out=Member,
                    summary="Add a user to a workspace (owner or admin only)",
                ),
                ResourceAction(
                    "remove",
                    MemberService.remove,
                    on="collection",
                    path="{user_id}",
                    method="DELETE",
                    if_match=IfMatch.REQUIRED,
                    summary="Remove a member from a workspace (owner or admin only)",
                ),
            ],
        )
    )
    query = ListQuery(Memberships, exclude=("workspace_id",))

    @router.get(
        members_path,
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
        page = await service.members(
            workspace_id, *q.filters, order_by=q.order_by, limit=q.limit, cursor=q.cursor
        )
        return {"items": page.items, "next_cursor": page.next_cursor}

    return router
