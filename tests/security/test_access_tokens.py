"""Access tokens: random, stored only as SHA-256, expiring and revocable (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from auth_app import MutableClock
from sqlalchemy import select

from lamina.domain import Unauthenticated, uuid7
from lamina.persistence import Database
from lamina.persistence.tables import access_tokens
from lamina.security import TokenStore, token_digest


async def stored_rows(db: Database) -> list[dict[str, object]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(select(access_tokens))
        return [dict(row._mapping) for row in result]


async def test_only_the_sha256_of_a_token_is_stored(db: Database, clock: MutableClock) -> None:
    tokens = TokenStore(db, clock=clock)
    user = uuid7()
    issued = await tokens.issue(user, {"admin"})
    assert len(issued.token) >= 43
    rows = await stored_rows(db)
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(issued.token.encode()).hexdigest()
    assert rows[0]["token_hash"] == token_digest(issued.token)
    assert all(issued.token not in str(value) for value in rows[0].values())
    assert rows[0]["user_id"] == user
    assert rows[0]["scopes"] == "admin"


async def test_tokens_are_unique(db: Database) -> None:
    tokens = TokenStore(db)
    user = uuid7()
    issued = {(await tokens.issue(user)).token for _ in range(20)}
    assert len(issued) == 20


async def test_resolve_returns_user_scopes_and_expiry(db: Database, clock: MutableClock) -> None:
    tokens = TokenStore(db, ttl=timedelta(minutes=15), clock=clock)
    user = uuid7()
    issued = await tokens.issue(user, ["read", "admin"])
    assert issued.expires_in == 900
    access = await tokens.resolve(issued.token)
    assert access.user_id == user
    assert access.scopes == {"read", "admin"}
    assert access.expires_at == clock.now + timedelta(minutes=15)
    assert access.expires_at.utcoffset() == timedelta(0)
    assert access.digest == token_digest(issued.token)


async def test_an_expired_token_is_refused(db: Database, clock: MutableClock) -> None:
    tokens = TokenStore(db, ttl=timedelta(minutes=5), clock=clock)
    issued = await tokens.issue(uuid7())
    clock.advance(timedelta(minutes=4, seconds=59))
    await tokens.resolve(issued.token)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="expired"):
        await tokens.resolve(issued.token)


async def test_a_short_ttl_per_token(db: Database, clock: MutableClock) -> None:
    tokens = TokenStore(db, ttl=timedelta(hours=1), clock=clock)
    short = await tokens.issue(uuid7(), ttl=timedelta(seconds=30))
    assert short.expires_in == 30
    clock.advance(timedelta(seconds=31))
    with pytest.raises(Unauthenticated, match="expired"):
        await tokens.resolve(short.token)


async def test_a_revoked_token_is_refused(db: Database) -> None:
    tokens = TokenStore(db)
    issued = await tokens.issue(uuid7())
    assert await tokens.revoke(issued.token) is True
    assert await tokens.revoke(issued.token) is False
    with pytest.raises(Unauthenticated, match="revoked"):
        await tokens.resolve(issued.token)


@pytest.mark.parametrize("token", ["", "x", "a" * 43, "x" * 10_000, "' OR 1=1 --", "\ud800"])
async def test_unknown_and_malformed_tokens_are_refused(db: Database, token: str) -> None:
    tokens = TokenStore(db)
    await tokens.issue(uuid7())
    with pytest.raises(Unauthenticated, match="not valid"):
        await tokens.resolve(token)


async def test_revoke_all_revokes_every_live_token_of_one_user(db: Database) -> None:
    tokens = TokenStore(db)
    alice, bob = uuid7(), uuid7()
    alice_tokens = [await tokens.issue(alice) for _ in range(3)]
    bob_token = await tokens.issue(bob)
    await tokens.revoke(alice_tokens[0].token)
    assert await tokens.revoke_all(alice) == 2
    for issued in alice_tokens:
        with pytest.raises(Unauthenticated):
            await tokens.resolve(issued.token)
    assert (await tokens.resolve(bob_token.token)).user_id == bob


async def test_revoke_all_inside_a_unit_of_work_rolls_back_with_it(db: Database) -> None:
    tokens = TokenStore(db)
    alice = uuid7()
    issued = await tokens.issue(alice)

    async def change_password_then_fail() -> None:
        async with db.unit_of_work() as uow:
            assert await tokens.revoke_all(alice, within=uow) == 1
            raise RuntimeError("password change failed")

    with pytest.raises(RuntimeError, match="password change failed"):
        await change_password_then_fail()
    assert (await tokens.resolve(issued.token)).user_id == alice
    async with db.unit_of_work() as uow:
        await tokens.revoke_all(alice, within=uow)
    with pytest.raises(Unauthenticated, match="revoked"):
        await tokens.resolve(issued.token)


async def test_purge_deletes_expired_and_revoked_tokens(db: Database, clock: MutableClock) -> None:
    tokens = TokenStore(db, ttl=timedelta(minutes=10), clock=clock)
    user = uuid7()
    expiring = await tokens.issue(user, ttl=timedelta(minutes=1))
    revoked = await tokens.issue(user)
    live = await tokens.issue(user)
    await tokens.revoke(revoked.token)
    clock.advance(timedelta(minutes=2))
    assert await tokens.purge(older_than=timedelta(minutes=5)) == 0
    assert await tokens.purge() == 2
    remaining = {row["token_hash"] for row in await stored_rows(db)}
    assert remaining == {token_digest(live.token)}
    assert token_digest(expiring.token) not in remaining


async def test_invalid_scopes_and_lifetimes_are_refused(db: Database) -> None:
    tokens = TokenStore(db)
    with pytest.raises(ValueError, match="invalid scope"):
        await tokens.issue(uuid7(), ["two words"])
    with pytest.raises(ValueError, match="positive"):
        await tokens.issue(uuid7(), ttl=timedelta(0))
    with pytest.raises(ValueError, match="positive"):
        TokenStore(db, ttl=timedelta(seconds=-1))
    assert await stored_rows(db) == []


async def test_g16_invalid_among_names_the_revoked_expired_and_unknown_tokens(
    db: Database, clock: MutableClock
) -> None:
    tokens = TokenStore(db, ttl=timedelta(minutes=10), clock=clock)
    user = uuid7()
    valid, revoked, expiring = [await tokens.issue(user) for _ in range(3)]
    await tokens.revoke(revoked.token)
    clock.advance(timedelta(minutes=5))
    longer = await tokens.issue(user)
    clock.advance(timedelta(minutes=6))  # the first three expired by now, the last did not
    digests = [token_digest(t.token) for t in (valid, revoked, expiring, longer)]
    unknown = ["0" * 64] + [f"{n:064x}" for n in range(1, 1200)]  # more than one query's worth

    invalid = await tokens.invalid_among(digests + unknown)

    assert invalid == set(digests[:3]) | set(unknown)
