"""Who takes part in a load run: users with tokens, workspaces, conversations, participants.

Made before the clients start, straight through lamina and the chat service's
own services (so it has the audit entries and events any data has), not over
HTTP: registering and logging in hundreds of users would mostly measure
Argon2, and the service throttles logins per address. Tokens come from
lamina's :class:`~lamina.security.TokenStore`, as a login would issue them.

Two worlds, each in a workspace of its own so their events never mix:

* **hot**: ``hot_clients`` users, all active participants of one conversation;
* **mixed**: ``clients`` users in groups of eight sharing a conversation, each
  also in a private conversation with a partner; and a newcomer per client,
  a workspace member in no conversation, whom the client invites, who
  accepts and leaves again, over and over.

Stream holders' memberships never change during a run, so what each may see
is known in advance (:attr:`Person.sees`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from examples.chat.domain import Modality, Role, User
from examples.chat.repositories import Users
from examples.chat.services import (
    ConversationService,
    MemberService,
    ParticipantService,
    WorkspaceService,
)

from lamina.domain import use_context
from lamina.persistence import Database
from lamina.security import Argon2Parameters, PasswordHasher, TokenStore

GROUP = 8
"""Members of each shared conversation of the mixed world."""


@dataclass
class Person:
    """A user of the run: its token, and the conversations it actively takes part in."""

    name: str
    id: UUID
    token: str
    workspace_id: UUID | None = None
    conversations: list[UUID] = field(default_factory=list)

    @property
    def user_id(self) -> UUID:
        """The id the chat services know the person by."""
        return self.id

    def sees(self, workspace_id: UUID | None, conversation_id: UUID | None) -> bool:
        """Whether this person's stream shows an event of that workspace and conversation."""
        if workspace_id is None or workspace_id != self.workspace_id:
            return False
        return conversation_id is None or conversation_id in self.conversations


@dataclass
class MixedClient:
    """A client of the mixed world: its person, conversations, and newcomer to invite."""

    person: Person
    shared: UUID
    private: UUID
    newcomer: Person


@dataclass
class Population:
    hot: list[Person]
    hot_conversation: UUID
    mixed: list[MixedClient]
    owners: dict[UUID, Person]
    """The owner of each workspace (who makes the closing fence event)."""


async def _people(db: Database, prefix: str, count: int) -> list[Person]:
    cheap = PasswordHasher(Argon2Parameters(time_cost=1, memory_cost_kib=1024, parallelism=1))
    password_hash = await cheap.hash("load-test-password")
    users = await Users(db).add_many(
        [
            User(
                username=f"{prefix}{n}",
                email=f"{prefix}{n}@load.example",
                display_name=f"{prefix} {n}",
                password_hash=password_hash,
            )
            for n in range(count)
        ]
    )
    tokens = TokenStore(db)
    return [Person(user.username, user.id, (await tokens.issue(user.id)).token) for user in users]


async def _workspace(db: Database, owner: Person, members: list[Person], name: str) -> UUID:
    with use_context(actor_id=owner.id):
        workspace = await WorkspaceService(db, owner).create({"name": name})
        for member in members:
            await MemberService(db, owner).add(workspace.id, member.name, Role.MEMBER)
    for person in (owner, *members):
        person.workspace_id = workspace.id
    return workspace.id


async def _conversation(db: Database, workspace_id: UUID, people: list[Person], title: str) -> UUID:
    creator = people[0]
    with use_context(actor_id=creator.id):
        conversation = await ConversationService(db, creator).create(
            {"workspace_id": workspace_id, "title": title, "modality": Modality.TEXT}
        )
        for person in people[1:]:
            await ParticipantService(db, creator).invite(conversation.id, person.name, None)
    for person in people[1:]:
        with use_context(actor_id=person.id):
            await ParticipantService(db, person).accept(conversation.id)
    for person in people:
        person.conversations.append(conversation.id)
    return conversation.id


async def populate(db: Database, hot_clients: int, clients: int) -> Population:
    """Create both worlds (``clients`` is rounded down to whole groups of eight)."""
    hot = await _people(db, "hot", hot_clients)
    hot_workspace = await _workspace(db, hot[0], hot[1:], "Hot")
    hot_conversation = await _conversation(db, hot_workspace, hot, "Everyone at once")

    people = await _people(db, "mixed", clients - clients % GROUP)
    newcomers = await _people(db, "newcomer", len(people))
    mixed_workspace = await _workspace(db, people[0], people[1:] + newcomers, "Mixed")
    for person in newcomers:
        person.conversations.clear()
    shared = [
        await _conversation(db, mixed_workspace, people[g : g + GROUP], f"Group {g // GROUP}")
        for g in range(0, len(people), GROUP)
    ]
    private = [
        await _conversation(db, mixed_workspace, people[p : p + 2], f"Pair {p // 2}")
        for p in range(0, len(people), 2)
    ]
    mixed = [
        MixedClient(person, shared[n // GROUP], private[n // 2], newcomers[n])
        for n, person in enumerate(people)
    ]
    owners = {hot_workspace: hot[0], mixed_workspace: people[0]}
    return Population(hot, hot_conversation, mixed, owners)
