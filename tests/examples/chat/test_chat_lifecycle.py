"""Soft delete and restore with history (G1, G4), conversation lists, members management."""

from __future__ import annotations

from chat_testkit import eventually, serving, user_on


async def test_g1_deleted_conversation_vanishes_and_comes_back_with_history(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
        await alice.ok("POST", f"/workspaces/{ws}/members", 201, json={"username": "bob"})
        listing = f"/workspaces/{ws}/conversations"
        created = await alice.call("POST", listing, json={"title": "Plans"})
        conv = created.json()["id"]
        await alice.ok("POST", f"/conversations/{conv}/participants", 201, json={"username": "bob"})
        await bob.ok("POST", f"/conversations/{conv}/participants/me/accept")
        renamed = await bob.call(
            "PATCH", f"/conversations/{conv}", json={"title": "Plans v2"},
            headers={"If-Match": created.headers["ETag"]},
        )  # fmt: skip
        assert renamed.status_code == 200
        refused = await bob.call(
            "DELETE", f"/conversations/{conv}", headers={"If-Match": renamed.headers["ETag"]}
        )
        assert refused.status_code == 403  # neither its creator nor a workspace owner/admin
        deleted = await alice.call(
            "DELETE", f"/conversations/{conv}", headers={"If-Match": renamed.headers["ETag"]}
        )
        assert deleted.status_code == 204

        for user in (alice, bob):
            assert (await user.ok("GET", listing))["items"] == []
            assert (await user.call("GET", f"/conversations/{conv}")).status_code == 404
            gone = await user.call("GET", f"/conversations/{conv}/messages")
            assert gone.status_code == 404

        restored = await alice.ok("POST", f"/conversations/{conv}/restore")
        assert (restored["title"], restored["deleted_at"]) == ("Plans v2", None)
        assert [c["id"] for c in (await bob.ok("GET", listing))["items"]] == [conv]
        again = await alice.call("POST", f"/conversations/{conv}/restore")
        assert again.status_code == 409

        history = (await bob.ok("GET", f"/conversations/{conv}/history"))["items"]
        assert [(e["action"], e["actor_id"]) for e in history] == [
            ("create", alice.id),
            ("update", bob.id),
            ("delete", alice.id),
            ("restore", alice.id),
        ]
        assert history[1]["changes"]["title"] == ["Plans", "Plans v2"]
        first = await bob.ok("GET", f"/conversations/{conv}/history", params={"limit": 3})
        rest = await bob.ok(
            "GET",
            f"/conversations/{conv}/history",
            params={"limit": 3, "cursor": first["next_cursor"]},
        )
        assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in history]
        assert rest["next_cursor"] is None


async def test_conversation_list_filters_search_sort_and_pages(chat_url: str) -> None:
    async with serving(chat_url) as base, user_on(base, "alice") as alice:
        ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
        listing = f"/workspaces/{ws}/conversations"
        ids = {}
        for title, modality in [("Alpha sync", "voice"), ("Beta", "text"), ("Gamma sync", "text")]:
            body = {"title": title, "modality": modality}
            ids[title] = (await alice.ok("POST", listing, 201, json=body))["id"]
        same = await alice.ok("POST", listing, 201, json={"title": "Beta"})
        assert same["slug"] == "beta-2"
        taken = await alice.call("POST", listing, json={"title": "x", "slug": "beta"})
        assert taken.status_code == 409
        await alice.ok("POST", f"/conversations/{ids['Beta']}/messages", 201, json={"content": "!"})

        await eventually(  # the activity marker follows the message's event
            lambda: alice.ok("GET", listing, params={"sort": "-last_activity_at"}),
            lambda newest: newest["items"][0]["id"] == ids["Beta"],
        )
        voice = await alice.ok("GET", listing, params={"modality": "voice"})
        assert [c["title"] for c in voice["items"]] == ["Alpha sync"]
        found = await alice.ok("GET", listing, params={"q": "SYNC", "sort": "title"})
        assert [c["title"] for c in found["items"]] == ["Alpha sync", "Gamma sync"]

        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 1, "sort": "title", **({"cursor": cursor} if cursor else {})}
            page = await alice.ok("GET", listing, params=params)
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 4
        for bad in ({"sort": "password"}, {"nope": "1"}, {"cursor": "forged"}, {"limit": "0"}):
            response = await alice.call("GET", listing, params=bad)
            assert response.status_code == 400, bad


async def test_members_are_managed_by_owners_and_admins(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
        user_on(base, "carol") as carol,
    ):
        ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
        members = f"/workspaces/{ws}/members"
        await alice.ok("POST", members, 201, json={"username": "bob"})
        refused = await bob.call("POST", members, json={"username": "carol"})
        assert refused.status_code == 403
        as_owner = await bob.call("POST", members, json={"username": "carol", "role": "owner"})
        assert as_owner.status_code == 403  # who may act comes before what the rules say
        assert (await bob.call("PATCH", f"/workspaces/{ws}", json={"name": "Mine"},
                               headers={"If-Match": '"1"'})).status_code == 403  # fmt: skip
        assert (await alice.call("POST", members, json={"username": "bob"})).status_code == 409
        owner = await alice.call("POST", members, json={"username": "carol", "role": "owner"})
        assert owner.status_code == 409
        added = await alice.call("POST", members, json={"username": "carol", "role": "admin"})
        assert added.status_code == 201
        listed = {m["username"]: m for m in (await carol.ok("GET", members))["items"]}
        assert set(listed) == {"alice", "bob", "carol"}

        bob_member = f"{members}/{bob.id}"
        assert (await carol.call("DELETE", bob_member)).status_code == 428
        stale = await carol.call("DELETE", bob_member, headers={"If-Match": '"5"'})
        assert stale.status_code == 412
        version = f'"{listed["bob"]["version"]}"'
        removed = await carol.call("DELETE", bob_member, headers={"If-Match": version})
        assert removed.status_code == 204
        assert (await bob.call("GET", f"/workspaces/{ws}")).status_code == 404
        alice_member = f"{members}/{alice.id}"
        owner_removal = await carol.call("DELETE", alice_member, headers={"If-Match": '"1"'})
        assert owner_removal.status_code == 409
        admin_deletes = await carol.call("DELETE", f"/workspaces/{ws}", headers={"If-Match": '"1"'})
        assert admin_deletes.status_code == 403
        owner_deletes = await alice.call("DELETE", f"/workspaces/{ws}", headers={"If-Match": '"1"'})
        assert owner_deletes.status_code == 204
        assert (await carol.call("GET", f"/workspaces/{ws}")).status_code == 404
