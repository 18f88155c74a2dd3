"""The web client in a real browser (Debian's Chromium through Playwright): two people chat
live, one goes offline and comes back to every message it missed exactly once, an outsider
sees nothing, and /docs renders with the outside network blocked. Screenshots of the main
screens are kept in ``var/screenshots``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from chat_testkit import PASSWORD, ChatUser, serving, two_workers, user_on
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

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"browser tests need Chromium at {CHROMIUM}"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
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


async def signed_in(browser: Browser, base: str, username: str) -> Page:
    context = await browser.new_context(viewport={"width": 1000, "height": 720})
    page = await context.new_page()
    await offline_outside(page, base)
    await page.goto(f"{base}/")
    await page.get_by_label("Username").first.fill(username)
    await page.get_by_label("Password").first.fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_text("Signed in as").wait_for()
    return page


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def shared_conversation(alice: ChatUser, bob: ChatUser) -> str:
    """A workspace of alice's with bob in it, and the conversation "Lunch" they both take part
    in; its id."""
    team = (await alice.ok("POST", "/workspaces", 201, json={"name": "Team"}))["id"]
    await alice.ok("POST", f"/workspaces/{team}/members", 201, json={"username": "bob"})
    lunch = {"title": "Lunch"}
    room: str = (await alice.ok("POST", f"/workspaces/{team}/conversations", 201, json=lunch))["id"]
    await alice.ok("POST", f"/conversations/{room}/participants", 201, json={"username": "bob"})
    await bob.ok("POST", f"/conversations/{room}/participants/me/accept")
    return room


async def open_lunch(*pages: Page) -> None:
    for page in pages:
        await page.get_by_role("button", name="Lunch (text)").click()
        await page.get_by_text("Live.").wait_for()


async def test_two_people_chat_live_and_one_catches_up_after_going_offline(
    chat_url: str, browser: Browser
) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
        user_on(base, "mallory"),
    ):
        room = await shared_conversation(alice, bob)
        alice_page = await signed_in(browser, base, "alice")
        bob_page = await signed_in(browser, base, "bob")
        await open_lunch(alice_page, bob_page)
        await alice_page.get_by_label("Message").fill("Pizza at noon?")
        await alice_page.get_by_role("button", name="Send").click()
        await bob_page.locator("#messages").get_by_text("Pizza at noon?").wait_for()
        await shot(alice_page, "conversation")

        # Bob goes offline; alice goes on; bob comes back and sees each message once.
        await bob_page.context.set_offline(True)
        await bob_page.route(f"{base}/events**", lambda route: route.abort())
        for text in ("Or sushi?", "Say something, Bob"):
            await alice.ok("POST", f"/conversations/{room}/messages", 201, json={"content": text})
        await bob_page.context.set_offline(False)
        await bob_page.unroute(f"{base}/events**")
        messages = bob_page.locator("#messages")
        await messages.get_by_text("Say something, Bob").wait_for(timeout=15_000)
        texts = await messages.locator(".content").all_inner_texts()
        assert texts == ["Pizza at noon?", "Or sushi?", "Say something, Bob"]
        await shot(bob_page, "caught-up")

        outsider = await signed_in(browser, base, "mallory")
        await shot(outsider, "outsider")
        assert await outsider.locator("#workspaces li").count() == 0
        assert await outsider.get_by_text("Lunch").count() == 0


async def test_the_docs_render_with_the_outside_network_blocked(
    chat_url: str, browser: Browser
) -> None:
    async with serving(chat_url) as base:
        context = await browser.new_context()
        page = await context.new_page()
        await offline_outside(page, base)
        await page.goto(f"{base}/docs")
        await page.locator(".swagger-ui .info .title").get_by_text("lamina chat").wait_for()
        await page.locator(".opblock-summary-path", has_text="/events/ticket").wait_for()
        await shot(page, "docs")


@pytest.mark.postgres_only
async def test_people_on_two_worker_processes_chat_live(
    isolated_db_url: str, browser: Browser, tmp_path: Path
) -> None:
    with two_workers(isolated_db_url, tmp_path) as base:
        async with user_on(base, "alice") as alice, user_on(base, "bob") as bob:
            await shared_conversation(alice, bob)
            pages = [await signed_in(browser, base, name) for name in ("alice", "bob")]
            await open_lunch(*pages)
            for sender, receiver, text in [(0, 1, "from alice"), (1, 0, "from bob")]:
                await pages[sender].get_by_label("Message").fill(text)
                await pages[sender].get_by_role("button", name="Send").click()
                await pages[receiver].locator("#messages").get_by_text(text).wait_for()
