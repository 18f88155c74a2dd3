"""A conversation's last activity: a projection of ``message.posted``, kept off the request path.

Posting a message does not write its conversation. If it did, every post in a
busy conversation would wait for the one before it to commit: the parent row
is locked from its UPDATE until COMMIT, and with 32 people posting at once on
two cores that queue alone tripled the slowest answers (p99 134 ms without
the parent write, 306 ms with it). ``last_activity_at`` is derived data (when
the newest message was recorded), so a subscription maintains it from the
event log instead. It takes the ``message.posted`` events of each read batch
together and moves each conversation's marker once, to its newest, with
``Repository.touch``: no version (a client's ``If-Match`` on the conversation
stays valid while others talk) and no audit entry (each message's own entry
records the activity).

The marker is eventually consistent: it trails a post by the time the runner
takes to read the event (milliseconds). Delivery is at least once and a touch
never moves the marker back, so a batch handled twice, or a replay from
position 0 (``lamina events replay -s conversation-activity``), leaves it right.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from examples.chat.domain import MessagePosted
from examples.chat.repositories import Conversations
from lamina.events import StoredEvent, Subscription
from lamina.persistence import Database

SUBSCRIPTION = "conversation-activity"


def conversation_activity(db: Database) -> Subscription:
    """The subscription keeping ``last_activity_at`` of conversations on ``db``."""
    activity = Subscription(SUBSCRIPTION)

    @activity.handles_together(MessagePosted)
    async def mark_activity(events: list[tuple[MessagePosted, StoredEvent]]) -> None:
        newest: dict[UUID, datetime] = {}
        for event, record in events:
            newest[event.conversation_id] = max(
                record.recorded_at, newest.get(event.conversation_id, record.recorded_at)
            )
        conversations = Conversations(db)
        for conversation_id, at in newest.items():
            await conversations.touch(conversation_id, "last_activity_at", at)

    return activity
