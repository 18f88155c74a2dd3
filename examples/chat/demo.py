"""A small demo data set: two users with known passwords, a workspace, two conversations.

Loaded through the services, so it has audit entries and events like any
other data. Loading is skipped when the first demo user already exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from examples.chat.api.accounts import chat_accounts
from examples.chat.domain import Modality, Role
from examples.chat.services import (
    ConversationService,
    MemberService,
    MessageService,
    ParticipantService,
    WorkspaceService,
)
from lamina.domain import AlreadyExists, use_context
from lamina.persistence import Database
from lamina.security import PasswordHasher


@dataclass(frozen=True)
class DemoUser:
    """A demo account; its password is printed at start-up."""

    username: str
    display_name: str
    password: str


DEMO_USERS = (
    DemoUser("alice", "Alice Liddell", "alice-demo-password"),
    DemoUser("bob", "Bob Builder", "bob-demo-password"),
)


@dataclass(frozen=True)
class DemoActor:
    """The actor the demo data is created as."""

    user_id: UUID


async def load_demo(db: Database, passwords: PasswordHasher) -> bool:
    """Create the demo data set unless it exists; True if it was created now."""
    accounts = chat_accounts(db)
    if await accounts.find_credentials(DEMO_USERS[0].username) is not None:
        return False
    ids: dict[str, UUID] = {}
    try:
        for user in DEMO_USERS:
            registration = {
                "username": user.username,
                "email": f"{user.username}@example.com",
                "display_name": user.display_name,
                "password": user.password,
            }
            created = await accounts.register(registration, passwords)
            ids[user.username] = created.id
    except AlreadyExists:  # another process is loading it at the same moment
        return False
    alice, bob = DemoActor(ids["alice"]), DemoActor(ids["bob"])
    with use_context(actor_id=alice.user_id):
        workspace = await WorkspaceService(db, alice).create(
            {"name": "Demo workspace", "description": "Where Alice and Bob try lamina chat."}
        )
        await MemberService(db, alice).add(workspace.id, "bob", Role.MEMBER)
        conversations = ConversationService(db, alice)
        general = await conversations.create(
            {"workspace_id": workspace.id, "title": "General", "modality": Modality.TEXT}
        )
        await conversations.create(
            {"workspace_id": workspace.id, "title": "Daily standup", "modality": Modality.VOICE}
        )
        await ParticipantService(db, alice).invite(general.id, "bob", "Welcome, Bob!")
        await MessageService(db, alice).create(
            {"conversation_id": general.id, "content": "Hello! This is the demo workspace."}
        )
    with use_context(actor_id=bob.user_id):
        await ParticipantService(db, bob).accept(general.id)
        await MessageService(db, bob).create(
            {"conversation_id": general.id, "content": "Hi Alice, glad to be here."}
        )
    return True
