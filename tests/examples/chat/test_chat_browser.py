"""The web client in a real browser (Debian's Chromium through Playwright): two people chat
live, one goes offline and comes back to every message it missed exactly once, an outsider
sees nothing, and /docs renders with the outside network blocked. Screenshots of the main
screens are kept in ``var/screenshots``."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_kit import (
    needs_chromium,
    offline_outside,
    open_lunch,
    shared_conversation,
    shot,
    signed_in,
)
from chat_testkit import serving, two_workers, user_on
from playwright.async_api import Browser

pytestmark = needs_chromium


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
