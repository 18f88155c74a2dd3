"""The e-learning service as a FastAPI app: ``create_app``, uvicorn's factory (migrate first)."""

from __future__ import annotations

from fastapi import FastAPI

from examples.learning.course import course_routers
from examples.learning.learning import course_stats, learning_routers
from examples.learning.user import User
from lamina.security import ServiceSettings, app_with_accounts


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service on the (already migrated) database of ``settings``; anyone reads published
    courses, a principal with the ``tutor`` scope posts the tutor's replies."""
    return app_with_accounts(
        settings,
        title="lamina learning",
        users=User,
        routers=[course_routers, learning_routers],
        subscriptions=[course_stats],
        anonymous_reads=True,
        scopes={"tutor": "Post the tutor's replies in chats"},
        scopes_field="scopes",
    )
