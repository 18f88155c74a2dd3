"""/docs and /redoc work without internet: every asset they load comes from the app itself."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from lamina.api import ApiSettings, install

URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""")


async def test_the_docs_pages_load_everything_from_the_app_itself() -> None:
    app = FastAPI(title="offline")
    install(app, ApiSettings(access_log=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for page in ("/docs", "/redoc"):
            response = await client.get(page)
            assert response.status_code == 200
            policy = response.headers["content-security-policy"]
            assert "http" not in policy, policy  # nothing from another origin may load
            loaded = [a or b for a, b in URL.findall(response.text)]
            assert loaded, response.text
            assert [u for u in loaded if "://" in u] == []
            for url in loaded:
                asset = await client.get(url)
                assert asset.status_code == 200, url
                assert len(asset.content) > 0
        spec = await client.get("/openapi.json")
        assert not [p for p in spec.json()["paths"] if p.startswith("/_lamina")]
