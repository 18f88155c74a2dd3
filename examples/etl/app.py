"""The ETL registry as a FastAPI app (uvicorn's factory too), on a migrated database whose
keyring holds the configuration secrets' keys (``python -m examples.etl`` does both)."""

from __future__ import annotations

from fastapi import FastAPI

from examples.etl.api import routers
from examples.etl.domain import User
from lamina.security import ServiceSettings, app_with_accounts


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service on the (already migrated) database of ``settings``."""
    return app_with_accounts(settings, title="lamina etl", users=User, routers=routers)
