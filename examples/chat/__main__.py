"""``python -m examples.chat``: migrate, load the demo data, serve. Asks nothing.

lamina's ``serve`` reads the environment (``LAMINA_DATABASE_URL``, default the SQLite
file ``./var/chat.db``; ``HOST``/``PORT`` default ``127.0.0.1``/``8000``; ``WORKERS``;
``LAMINA_DEMO=0``; ``LOG_FORMAT``; ``LAMINA_SECRET_KEY``, else one kept in
``chat.secret``: see :mod:`lamina.api.serving`). The chat's own: ``MAX_STREAMS_PER_USER``,
open ``/events`` streams per user and worker (default 10); ``LAMINA_RELAY_URL``, NATS
server(s) to relay the event log to (JetStream stream ``LAMINA_EVENTS``). On PostgreSQL every worker
gets every event through LISTEN/NOTIFY; on SQLite other workers' events arrive by
polling (within a second).
"""

from __future__ import annotations

from examples.chat.demo import DEMO_USERS, load_demo
from examples.chat.rows import ChatBase
from lamina.api import DemoData, serve
from lamina.persistence import Database, MigrationConfig
from lamina.security import PasswordHasher


async def demo(db: Database) -> bool:
    """The demo data, through the chat's services (False when it was there already)."""
    return await load_demo(db, PasswordHasher())


def main() -> None:
    """Run the chat service until interrupted."""
    serve(
        "examples.chat.app:app_from_env",
        name="chat",
        migrations=MigrationConfig.beside(ChatBase),
        demo=DemoData(demo, logins=[(u.username, u.password) for u in DEMO_USERS]),
        web_client="/",
    )


if __name__ == "__main__":
    main()
