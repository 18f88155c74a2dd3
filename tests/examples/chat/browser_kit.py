"""Helpers of the browser tests: Debian's Chromium through Playwright (never a downloaded
browser), pages signed in as a test user, the network outside the test server refused, and
screenshots kept in ``var/screenshots`` (or ``LAMINA_SCREENSHOTS``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from chat_testkit import PASSWORD, ChatUser
from playwright.async_api import Browser, Page, Route, async_playwright

CHROMIUM = "/usr/bin/chromium"
HEADLESS_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("LAMINA_SCREENSHOTS", "var/screenshots"))

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"browser tests need Chromium at {CHROMIUM}"
)


@asynccontextmanager
async def launched_browser() -> AsyncIterator[Browser]:
    """Headless Chromium, closed on exit."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=HEADLESS_FLAGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def offline_outside(page: Page, base: str) -> None:
    """Refuse every request that leaves the loopback server (no CDN, no internet)."""

    async def route(route: Route) -> None:
        if route.request.url.startswith(base):
            await route.continue_()
        else:
            await route.abort()

    await page.route("**/*", route)


async def signed_in(
    browser: Browser,
    base: str,
    username: str,
    viewport: tuple[int, int] = (1000, 720),
    live: bool = True,
) -> Page:
    """A page of the web client at ``base`` on which ``username`` logged in (its live stream
    refused when not ``live``)."""
    width, height = viewport
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    await offline_outside(page, base)
    if not live:
        await page.route(f"{base}/events?**", lambda route: route.abort())
    await page.goto(f"{base}/")
    await page.get_by_label("Username").first.fill(username)
    await page.get_by_label("Password").first.fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_text("Signed in as").wait_for()
    return page


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def team_with(alice: ChatUser, member: str) -> str:
    """A workspace "Team" of alice's with ``member`` in it; its id."""
    team: str = (await alice.ok("POST", "/workspaces", 201, json={"name": "Team"}))["id"]
    await alice.ok("POST", f"/workspaces/{team}/members", 201, json={"username": member})
    return team


async def shared_conversation(
    alice: ChatUser, bob: ChatUser, title: str = "Lunch", modality: str = "text"
) -> str:
    """A workspace of alice's with bob in it, and a conversation ("Lunch") they both take part
    in; its id."""
    team = await team_with(alice, bob.username)
    conversation = {"title": title, "modality": modality}
    path = f"/workspaces/{team}/conversations"
    room: str = (await alice.ok("POST", path, 201, json=conversation))["id"]
    await alice.ok("POST", f"/conversations/{room}/participants", 201, json={"username": "bob"})
    await bob.ok("POST", f"/conversations/{room}/participants/me/accept")
    return room


async def open_lunch(*pages: Page) -> None:
    for page in pages:
        await page.get_by_role("button", name="Lunch (text)").click()
        await page.get_by_text("Live.").wait_for()
