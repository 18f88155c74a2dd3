"""The web client's other flows in a real browser: an invitation arrives live and is accepted
or rejected, problems are shown (a 409, and a 412 after a concurrent edit that the page then
reloads), a recording shows live on a voice conversation, the page is usable on a phone-sized
window and with the keyboard alone, and every control has a label."""

from __future__ import annotations

from browser_kit import (
    needs_chromium,
    open_lunch,
    shared_conversation,
    shot,
    signed_in,
    team_with,
)
from chat_testkit import serving, user_on
from playwright.async_api import Browser, Page

pytestmark = needs_chromium


async def problem_shown(page: Page, *parts: str) -> str:
    """The text of the page's problem banner, once it is shown and names each of ``parts``."""
    banner = page.locator("#problem")
    await banner.wait_for(state="visible")
    text = await banner.inner_text()
    assert all(part in text for part in parts), text
    return text


async def test_an_invitation_arrives_live_and_is_accepted_or_rejected(
    chat_url: str, browser: Browser
) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        path = f"/workspaces/{await team_with(alice, 'bob')}/conversations"
        await alice.ok("POST", path, 201, json={"title": "Plans"})
        gossip = (await alice.ok("POST", path, 201, json={"title": "Gossip"}))["id"]
        alice_page = await signed_in(browser, base, "alice")
        bob_page = await signed_in(browser, base, "bob")
        await bob_page.get_by_text("Live.").wait_for()
        assert await bob_page.locator("#conversations li").count() == 0

        # Alice invites bob from her page; the conversation appears on his, live.
        await alice_page.get_by_role("button", name="Plans (text)").click()
        await alice_page.get_by_label("Invite (username)").fill("bob")
        await alice_page.get_by_role("button", name="Invite").click()
        await bob_page.get_by_role("button", name="Plans (text)").click()
        await bob_page.get_by_text("You are invited to this conversation.").wait_for()
        assert await bob_page.get_by_label("Message").is_hidden()
        await shot(bob_page, "invitation")
        await bob_page.get_by_role("button", name="Accept").click()
        await bob_page.get_by_label("Message").fill("Count me in")
        await bob_page.get_by_role("button", name="Send").click()
        await alice_page.locator("#messages").get_by_text("Count me in").wait_for()

        # Inviting him again is a conflict, shown as such.
        await alice_page.get_by_label("Invite (username)").fill("bob")
        await alice_page.get_by_role("button", name="Invite").click()
        await problem_shown(alice_page, "409")
        await shot(alice_page, "conflict")

        # Rejecting an invitation hides it and keeps him out.
        await alice_page.get_by_role("button", name="Gossip (text)").click()
        await alice_page.get_by_label("Invite (username)").fill("bob")
        await alice_page.get_by_role("button", name="Invite").click()
        await bob_page.get_by_role("button", name="Gossip (text)").click()
        await bob_page.get_by_role("button", name="Reject").click()
        await bob_page.locator("#conversation-pane").wait_for(state="hidden")
        await bob_page.get_by_role("button", name="Gossip (text)").wait_for(state="detached")
        people = await alice.ok("GET", f"/conversations/{gossip}/participants")
        assert {p["user_id"]: p["status"] for p in people["items"]}[bob.id] == "rejected"


async def test_a_concurrent_rename_is_a_412_and_the_page_shows_the_other_edit(
    chat_url: str, browser: Browser
) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        room = await shared_conversation(alice, bob)
        # Alice's page cannot hear of bob's edit (it has no live stream), so it goes stale.
        page = await signed_in(browser, base, "alice", live=False)
        await page.get_by_role("button", name="Lunch (text)").click()
        await page.locator("#conversation-title").get_by_text("Lunch").wait_for()
        await bob.ok(
            "PATCH",
            f"/conversations/{room}",
            json={"title": "Lunch at one"},
            headers={"If-Match": '"1"'},
        )
        await page.get_by_text("Rename conversation").click()
        await page.get_by_label("Title").fill("Dinner")
        await page.get_by_role("button", name="Rename", exact=True).click()
        await problem_shown(page, "412", "Someone changed it meanwhile")
        await page.locator("#conversation-title").get_by_text("Lunch at one").wait_for()
        assert await page.get_by_label("Title").input_value() == "Lunch at one"
        await shot(page, "precondition-failed")

        # Trying again on what is now shown succeeds.
        await page.get_by_label("Title").fill("Dinner")
        await page.get_by_role("button", name="Rename", exact=True).click()
        await page.locator("#conversation-title").get_by_text("Dinner").wait_for()
        assert (await bob.ok("GET", f"/conversations/{room}"))["title"] == "Dinner"
        assert await page.locator("#problem").is_hidden()


async def test_a_recording_on_a_voice_conversation_shows_live_to_the_other_participant(
    chat_url: str, browser: Browser
) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        room = await shared_conversation(alice, bob, "Standup", modality="voice")
        pages = [await signed_in(browser, base, name) for name in ("alice", "bob")]
        for page in pages:
            await page.get_by_role("button", name="Standup (voice)").click()
            await page.get_by_text("Live.").wait_for()
        alice_page, bob_page = pages
        await alice_page.get_by_role("button", name="Start recording").click()
        await bob_page.get_by_text("Recording…").wait_for()
        await alice_page.get_by_role("button", name="End recording").click()
        await bob_page.get_by_text("Recording ended.").wait_for()
        recordings = await bob.ok("GET", f"/conversations/{room}/recordings")
        assert [r["status"] for r in recordings["items"]] == ["completed"]


async def test_the_client_fits_a_phone_sized_window(chat_url: str, browser: Browser) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        room = await shared_conversation(alice, bob)
        long_word = "x" * 120  # no spaces: must wrap, not widen the page
        await bob.ok("POST", f"/conversations/{room}/messages", 201, json={"content": long_word})
        page = await signed_in(browser, base, "alice", viewport=(375, 740))
        await open_lunch(page)
        await page.locator("#messages").get_by_text(long_word).wait_for()
        widths = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
        await shot(page, "phone")


async def test_every_control_is_labelled_and_the_keyboard_alone_suffices(
    chat_url: str, browser: Browser
) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        await shared_conversation(alice, bob)
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{base}/")
        unlabelled = await page.evaluate(
            """[...document.querySelectorAll("input, select, textarea, button")]
                 .filter((el) => el.tagName === "BUTTON"
                   ? !(el.textContent.trim() || el.getAttribute("aria-label"))
                   : !(el.labels.length || el.getAttribute("aria-label")))
                 .map((el) => el.outerHTML)"""
        )
        assert unlabelled == []

        # Log in, open the conversation and post, with the keyboard only.
        await page.keyboard.press("Tab")
        await page.keyboard.type("alice")
        await page.keyboard.press("Tab")
        await page.keyboard.type("correct horse battery")
        await page.keyboard.press("Enter")
        await page.get_by_text("Signed in as").wait_for()
        lunch = page.get_by_role("button", name="Lunch (text)")
        await lunch.wait_for()
        while not await lunch.evaluate("(el) => el === document.activeElement"):
            await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await page.get_by_text("Live.").wait_for()
        message = page.get_by_label("Message")
        while not await message.evaluate("(el) => el === document.activeElement"):
            await page.keyboard.press("Tab")
        await page.keyboard.type("typed, not clicked")
        await page.keyboard.press("Enter")
        await page.locator("#messages").get_by_text("typed, not clicked").wait_for()
