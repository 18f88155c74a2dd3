"""``service_app``: install, database readiness, metrics and the app's subscriptions."""

from __future__ import annotations

import httpx

from lamina.api import ApiSettings, service_app
from lamina.events import Subscription
from lamina.persistence import Database, new_metadata
from server_kit import serve_in_process


async def test_a_service_app_is_ready_measured_and_runs_its_subscriptions(db_url: str) -> None:
    db = Database(db_url)
    await db.create_all(new_metadata())  # lamina's own tables
    projection = Subscription("service-app-test")
    app = service_app(
        db, title="t", subscriptions=[projection], settings=ApiSettings(access_log=False)
    )
    assert app.state.database is db
    async with serve_in_process(app) as base, httpx.AsyncClient(base_url=base) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert "database" in ready.text
        metrics = (await client.get("/metrics")).text
        assert "lamina_db_audit_entries_total" in metrics
        assert app.state.events.subscriptions == {"service-app-test": projection}
