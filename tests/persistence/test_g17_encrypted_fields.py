"""G17: an encrypted field never reaches the table in plaintext; a value under an unknown key
or tampered with (or moved to another row) is a typed error, never garbage; a blind index
allows equality lookups and unique rules without the plaintext."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from pydantic import Field
from sqlalchemy import String, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from typer.testing import CliRunner, Result

from lamina.cli import app
from lamina.domain import (
    ENCRYPTED,
    MASK,
    AlreadyExists,
    DecryptionFailed,
    EncryptionKeyMissing,
    Entity,
    InvalidInput,
    Timestamped,
    Versioned,
)
from lamina.persistence import (
    Database,
    Keyring,
    KeyringError,
    MappingError,
    Repository,
    StandardColumns,
    blind_index_column,
    encrypted_column,
    key_id_of,
    new_key,
    new_metadata,
    reencrypt,
    where,
)
from lamina.persistence.tables import audit_log

KEY_A, KEY_B, INDEX_KEY = new_key(), new_key(), new_key()
EMAIL = "ada@example.org"
NOTES = "allergic to penicillin"
RECORD = {"blood": "AB-", "visits": [1, 2]}


class Patient(Timestamped, Versioned, Entity):
    name: str
    email: Annotated[str, ENCRYPTED]
    notes: Annotated[str | None, ENCRYPTED] = None
    record: Annotated[dict[str, Any], ENCRYPTED] = Field(default_factory=dict)


class Rows(DeclarativeBase):
    metadata = new_metadata()


class PatientRow(StandardColumns, Rows):
    __tablename__ = "g17_patients"
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = encrypted_column()
    email_bidx: Mapped[str | None] = blind_index_column(unique=True)
    notes: Mapped[str | None] = encrypted_column(nullable=True)
    record: Mapped[str] = encrypted_column()


class Patients(Repository[Patient, PatientRow]):
    filterable = ("name", "email", "notes")
    sortable = ("name",)


def keyring(spec: str) -> Keyring:
    return Keyring.parse(spec, index_key=INDEX_KEY)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, keyring=keyring(f"a={KEY_A}"))
    await database.drop_all(Rows.metadata)
    await database.create_all(Rows.metadata)
    yield database
    await database.close()


async def raw_rows(db: Database) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM g17_patients ORDER BY name"))
        return [dict(row) for row in result.mappings()]


async def raw_set(db: Database, id: Any, **values: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(update(PatientRow).where(PatientRow.id == id).values(**values))


def patient(name: str = "Ada", email: str = EMAIL, **more: Any) -> Patient:
    return Patient(name=name, email=email, **more)


async def test_g17_the_table_holds_no_plaintext_and_reads_decrypt(db: Database) -> None:
    patients = Patients(db)
    stored = await patients.add(patient(notes=NOTES, record=RECORD))
    await patients.add(patient("Bob", "bob@example.org"))

    (ada, bob) = await raw_rows(db)
    dumped = json.dumps([ada, bob], default=str)
    for plaintext in (EMAIL, NOTES, "penicillin", "AB-", "bob@example.org"):
        assert plaintext not in dumped
    assert ada["email"].startswith("v1:a:")
    assert key_id_of(ada["email"]) == "a"
    assert bob["notes"] is None  # NULL stays NULL

    got = await patients.get(stored.id)
    assert (got.email, got.notes, got.record) == (EMAIL, NOTES, RECORD)
    assert got == stored
    listed = await patients.list(order_by=["name"])
    assert [p.email for p in listed] == [EMAIL, "bob@example.org"]


async def test_g17_equal_plaintexts_give_different_ciphertexts(db: Database) -> None:
    patients = Patients(db)
    await patients.add(patient("Ada", "a@x.org", notes=NOTES))
    await patients.add(patient("Bob", "b@x.org", notes=NOTES))

    ada, bob = await raw_rows(db)
    assert ada["notes"] != bob["notes"]


async def test_g17_updates_are_encrypted_and_read_back(db: Database) -> None:
    patients = Patients(db)
    stored = await patients.add(patient())
    await patients.update(stored.id, {"notes": NOTES, "record": RECORD}, expected_version=1)

    (row,) = await raw_rows(db)
    assert NOTES not in json.dumps(row, default=str)
    got = await patients.get(stored.id)
    assert (got.notes, got.record, got.version) == (NOTES, RECORD, 2)


async def test_g17_a_ciphertext_moved_to_another_row_or_column_is_an_error(db: Database) -> None:
    patients = Patients(db)
    ada = await patients.add(patient("Ada", "a@x.org", notes=NOTES))
    bob = await patients.add(patient("Bob", "b@x.org", notes="nothing"))
    ada_row, _ = await raw_rows(db)

    await raw_set(db, bob.id, notes=ada_row["notes"])
    with pytest.raises(DecryptionFailed) as moved:
        await patients.get(bob.id)
    assert (moved.value.key_id, moved.value.field) == ("a", "notes")
    with pytest.raises(DecryptionFailed):
        await patients.list()

    await raw_set(db, ada.id, notes=ada_row["email"])  # another column of the same row
    with pytest.raises(DecryptionFailed, match="'a'"):
        await patients.get(ada.id)


async def test_g17_a_tampered_ciphertext_is_an_error_naming_its_key(db: Database) -> None:
    patients = Patients(db)
    stored = await patients.add(patient(notes=NOTES))
    (row,) = await raw_rows(db)
    body = row["notes"]
    flipped = body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:]

    await raw_set(db, stored.id, notes=flipped)
    with pytest.raises(DecryptionFailed) as tampered:
        await patients.get(stored.id)
    assert tampered.value.key_id == "a"
    assert tampered.value.details()["key_id"] == "a"
    assert NOTES not in str(tampered.value)

    await raw_set(db, stored.id, notes=body.replace("v1:a:", "v1:b:"))  # relabelled key
    with pytest.raises(EncryptionKeyMissing):
        await patients.get(stored.id)


async def test_g17_a_value_under_a_missing_key_is_an_error_naming_the_key(
    db: Database, db_url: str
) -> None:
    stored = await Patients(db).add(patient(notes=NOTES))
    async with Database(db_url, keyring=keyring(f"b={KEY_B}")) as other:
        with pytest.raises(EncryptionKeyMissing) as missing:
            await Patients(other).get(stored.id)
    assert missing.value.key_id == "a"
    assert "'a'" in str(missing.value)


async def test_g17_an_older_key_still_reads_and_the_active_one_writes(
    db: Database, db_url: str
) -> None:
    old = await Patients(db).add(patient("Ada", "a@x.org", notes=NOTES))
    async with Database(db_url, keyring=keyring(f"b={KEY_B},a={KEY_A}")) as rotated:
        patients = Patients(rotated)
        assert (await patients.get(old.id)).notes == NOTES
        new = await patients.add(patient("Bob", "b@x.org"))
        ada_row, bob_row = await raw_rows(rotated)
        assert key_id_of(bob_row["email"]) == "b"
        assert key_id_of(ada_row["email"]) == "a"

        again = reencrypt(ada_row["notes"], rotated.keyring, "g17_patients", "notes", old.id)
        assert key_id_of(again) == "b"
        await raw_set(rotated, old.id, notes=again)
        assert (await patients.get(old.id)).notes == NOTES
        assert (await patients.get(new.id)).email == "b@x.org"


async def test_g17_writing_without_an_active_key_is_refused(db_url: str, db: Database) -> None:
    async with Database(db_url, keyring=Keyring()) as keyless:
        with pytest.raises(EncryptionKeyMissing, match="LAMINA_"):
            await Patients(keyless).add(patient())
    assert await raw_rows(db) == []


async def test_g17_blind_index_finds_by_equality_without_the_plaintext(db: Database) -> None:
    patients = Patients(db)
    ada = await patients.add(patient("Ada", EMAIL))
    bob = await patients.add(patient("Bob", "bob@example.org"))

    assert [p.id for p in await patients.list(where("email") == EMAIL)] == [ada.id]
    both = await patients.list(where("email").in_([EMAIL, "bob@example.org"]), order_by=["name"])
    assert [p.id for p in both] == [ada.id, bob.id]
    assert [p.id for p in await patients.list(where("email") != EMAIL)] == [bob.id]
    assert await patients.count(where("email") == "nobody@example.org") == 0

    ada_row, bob_row = await raw_rows(db)
    assert len(ada_row["email_bidx"]) == 64
    assert ada_row["email_bidx"] != bob_row["email_bidx"]
    # Hex digits only (a hex digest contains "ada" now and then: 1 run in 70 failed on that).
    assert set(ada_row["email_bidx"]) <= set("0123456789abcdef")
    assert "ada@" not in ada_row["email_bidx"]

    await patients.update(ada.id, {"email": "ada@new.org"})
    assert await patients.count(where("email") == EMAIL) == 0
    assert [p.id for p in await patients.list(where("email") == "ada@new.org")] == [ada.id]


async def test_g17_blind_index_keeps_a_unique_rule(db: Database) -> None:
    patients = Patients(db)
    await patients.add(patient("Ada", EMAIL))

    with pytest.raises(AlreadyExists) as taken:
        await patients.add(patient("Eve", EMAIL))
    assert list(taken.value.fields) == ["email"]
    assert len(await patients.list()) == 1


async def test_g17_filters_and_sorts_that_would_need_the_plaintext_are_refused(
    db: Database,
) -> None:
    patients = Patients(db)
    await patients.add(patient(notes=NOTES))

    with pytest.raises(InvalidInput, match="blind index"):
        await patients.list(where("notes") == NOTES)
    with pytest.raises(InvalidInput, match="equality"):
        await patients.list(where("email").icontains("ada"))
    with pytest.raises(InvalidInput, match="encrypted"):
        await patients.list(order_by=["email"])
    with pytest.raises(InvalidInput):  # trusted filters (scopes) are refused too
        Patients(db, scope=[where("notes").startswith("a")])
    assert await patients.count(where("notes").is_null(False)) == 1
    assert patients.allowed_filters()["notes"] == frozenset({"is_null"})


async def test_g17_audit_entries_mask_encrypted_values(db: Database) -> None:
    patients = Patients(db)
    stored = await patients.add(patient(notes=NOTES, record=RECORD))
    await patients.update(stored.id, {"notes": "changed"})

    create, change = await patients.history(stored.id)
    assert list(create.changes["email"]) == [None, MASK]
    assert list(create.changes["record"]) == [None, MASK]
    assert {k: list(v) for k, v in change.changes.items()} == {"notes": [MASK, MASK]}
    async with db.engine.connect() as conn:
        raw = json.dumps((await conn.execute(select(audit_log.c.changes))).scalars().all())
    assert EMAIL not in raw
    assert NOTES not in raw
    assert "changed" not in raw


def test_g17_an_encrypted_field_needs_an_encrypted_column() -> None:
    class Plain(DeclarativeBase):
        metadata = new_metadata()

    class PlainRow(StandardColumns, Plain):
        __tablename__ = "g17_plain"
        name: Mapped[str] = mapped_column(String(100))
        email: Mapped[str] = mapped_column(String(200))
        notes: Mapped[str | None] = mapped_column(String(200))
        record: Mapped[str] = mapped_column(String(200))

    class PlainPatients(Repository[Patient, PlainRow]):
        pass

    with pytest.raises(MappingError, match="encrypted_column"):
        PlainPatients.mapper()


def test_g17_an_encrypted_field_cannot_be_a_subquery_selection() -> None:
    with pytest.raises(MappingError, match="encrypted"):
        Patients.subquery("email")
    assert Patients.subquery("id").field == "id"


def test_keyring_configuration(tmp_path: Any) -> None:
    ring = Keyring.parse(f"# comment\nb={KEY_B}\na={KEY_A}, index={INDEX_KEY}\n")
    assert ring.active_id == "b"
    assert ring.key_ids == ("b", "a")
    assert KEY_A not in repr(ring)
    assert KEY_B not in repr(ring)
    with pytest.raises(EncryptionKeyMissing) as missing:
        ring.cipher("c")
    assert missing.value.key_id == "c"
    with pytest.raises(KeyringError, match="32 bytes"):
        Keyring.parse("a=c2hvcnQ=")
    with pytest.raises(KeyringError, match="key id"):
        Keyring.parse(f"a:b={KEY_A}")
    with pytest.raises(KeyringError, match="twice"):
        Keyring.parse(f"a={KEY_A},a={KEY_B}")

    path = tmp_path / "keys"
    path.write_text(f"a={KEY_A}\n")
    from_file = Keyring.from_env({"LAMINA_KEYS_FILE": str(path), "LAMINA_INDEX_KEY": INDEX_KEY})
    assert from_file.active_id == "a"
    assert len(from_file.index_key) == 32
    empty = Keyring.from_env({})
    assert empty.active_id is None
    with pytest.raises(EncryptionKeyMissing, match="LAMINA_INDEX_KEY"):
        _ = empty.index_key


async def lamina(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``lamina ARGS`` in a thread (the commands start their own event loop)."""
    return await asyncio.to_thread(
        CliRunner().invoke, app, list(args), env=env, catch_exceptions=False
    )


async def test_keys_status_counts_the_values_each_key_protects(db: Database, db_url: str) -> None:
    await Patients(db).add(patient("Ada", "a@x.org", notes=NOTES))
    rotated_keys = f"b={KEY_B},a={KEY_A}"
    async with Database(db_url, keyring=keyring(rotated_keys)) as rotated:
        await Patients(rotated).add(patient("Bob", "b@x.org"))
    env = {"LAMINA_KEYS": rotated_keys, "LAMINA_INDEX_KEY": INDEX_KEY}

    shown = await lamina(
        "keys", "status", "--url", db_url, "--metadata", f"{__name__}:Rows", env=env
    )

    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "g17_patients.email  a  1" in lines
    assert "g17_patients.email  b  1" in lines
    assert "g17_patients.notes  a  1" in lines
    assert "g17_patients.record  b  1" in lines
    assert "key a: 3 values (still needed: re-encrypt these values before removing it)" in lines
    assert "key b: 2 values (active)" in lines
    assert KEY_A not in shown.output

    only_b = await lamina(
        "keys", "status", "--url", db_url, "--metadata", f"{__name__}:Rows",
        env={"LAMINA_KEYS": f"b={KEY_B},c={KEY_A}"},
    )  # fmt: skip
    assert "key a: 3 values (MISSING from the keyring: these values cannot be read)" in (
        only_b.output.splitlines()
    )
    assert "key c: 0 values (protects nothing: can be removed)" in only_b.output.splitlines()


async def test_keys_new_prints_an_entry_the_keyring_reads() -> None:
    made = await lamina("keys", "new", "--id", "k2")
    index = await lamina("keys", "new", "--index")
    default = await lamina("keys", "new")

    ring = Keyring.parse(made.output.strip(), index_key=index.output.strip().split("=", 1)[1])
    assert ring.active_id == "k2"
    assert len(ring.index_key) == 32
    assert Keyring.parse(default.output).active_id is not None
    refused = await lamina("keys", "new", "--id", "bad:id")
    assert refused.exit_code == 1


async def test_g17_bulk_inserts_pages_and_saves_encrypt_too(db: Database) -> None:
    patients = Patients(db)
    added = await patients.add_many(
        [patient(f"P{i:03}", f"p{i}@x.org", notes=f"note {i}") for i in range(300)]
    )
    raw = json.dumps(await raw_rows(db), default=str)
    assert "p7@x.org" not in raw
    assert "note 7" not in raw

    first = await patients.keyset_page(order_by=["name"], limit=200)
    rest = await patients.keyset_page(order_by=["name"], limit=200, cursor=first.next_cursor)
    assert [p.notes for p in [*first.items, *rest.items]] == [f"note {i}" for i in range(300)]
    many = await patients.get_many([added[5].id, added[9].id])
    assert [p.email for p in many] == ["p5@x.org", "p9@x.org"]

    saved = await patients.save(many[0].evolve(notes="rewritten", record={"k": [1]}))
    assert (await patients.get(saved.id)).record == {"k": [1]}
    assert [p.id for p in await patients.list(where("email") == "p5@x.org")] == [saved.id]
    with pytest.raises(InvalidInput, match="upsert"):
        await patients.upsert(patient("Q", "q@x.org"), on=["email"])


async def test_g17_a_page_mixing_keys_reads_each_value_under_its_own_key(
    db: Database, db_url: str
) -> None:
    old = await Patients(db).add_many(
        [patient(f"A{i}", f"a{i}@x.org", notes=f"old {i}", record={"i": i}) for i in range(3)]
    )
    async with Database(db_url, keyring=keyring(f"b={KEY_B},a={KEY_A}")) as rotated:
        patients = Patients(rotated)
        new = await patients.add_many(
            [patient(f"B{i}", f"b{i}@x.org", notes=f"new {i}", record={"i": i}) for i in range(3)]
        )
        ordered = ["name"]
        page = await patients.page(order_by=ordered, limit=10)
        assert [(p.email, p.notes, p.record) for p in page.items] == [
            *((f"a{i}@x.org", f"old {i}", {"i": i}) for i in range(3)),
            *((f"b{i}@x.org", f"new {i}", {"i": i}) for i in range(3)),
        ]
        keyset = await patients.keyset_page(order_by=ordered, limit=10)
        assert keyset.items == page.items

        # The same entity read through a keyring without key b: an error naming b, even
        # right after a read with the keyring that has it (nothing is kept across keyrings).
        async with Database(db_url, keyring=keyring(f"a={KEY_A}")) as only_a:
            for _ in range(2):
                with pytest.raises(EncryptionKeyMissing) as missing:
                    await Patients(only_a).list(order_by=ordered)
                assert missing.value.key_id == "b"
                assert [p.id for p in await patients.list(order_by=ordered)] == [
                    *(p.id for p in old),
                    *(p.id for p in new),
                ]
            assert (await Patients(only_a).get(old[1].id)).notes == "old 1"

            # Writes through either keyring, in turn, are sealed under its own active key.
            for i in range(2):
                await Patients(only_a).add(patient(f"C{i}", f"c{i}@x.org", notes="by a"))
                await patients.add(patient(f"D{i}", f"d{i}@x.org", notes="by b"))
            written = {row["name"]: row for row in await raw_rows(db)}
            assert {key_id_of(written[f"C{i}"]["notes"]) for i in range(2)} == {"a"}
            assert {key_id_of(written[f"D{i}"]["notes"]) for i in range(2)} == {"b"}
            found = await patients.list(where("email").in_(["c1@x.org", "d1@x.org"]))
            assert sorted(p.name for p in found) == ["C1", "D1"]


async def test_g17_a_tampered_or_moved_value_inside_a_page_is_an_error(db: Database) -> None:
    patients = Patients(db)
    added = await patients.add_many(
        [patient(f"P{i}", f"p{i}@x.org", notes=f"n{i}") for i in range(5)]
    )
    rows = {row["name"]: row for row in await raw_rows(db)}

    body = rows["P2"]["notes"]
    await raw_set(db, added[2].id, notes=body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:])
    with pytest.raises(DecryptionFailed) as tampered:
        await patients.page(order_by=["name"])
    assert (tampered.value.key_id, tampered.value.field) == ("a", "notes")

    await raw_set(db, added[2].id, notes=body)
    assert [p.notes for p in (await patients.page(order_by=["name"])).items][2] == "n2"
    await raw_set(db, added[3].id, email=rows["P4"]["email"])  # another row's ciphertext
    with pytest.raises(DecryptionFailed) as moved:
        await patients.keyset_page(order_by=["name"])
    assert (moved.value.key_id, moved.value.field) == ("a", "email")

    await raw_set(db, added[3].id, email="ada@example.org")  # not a sealed value at all
    with pytest.raises(DecryptionFailed) as plain:
        await patients.list()
    assert (plain.value.key_id, plain.value.field) == (None, "email")


async def test_g17_the_blind_index_key_is_needed_only_for_a_digest(
    db: Database, db_url: str
) -> None:
    stored = await Patients(db).add(patient(notes=NOTES))
    async with Database(db_url, keyring=Keyring.parse(f"a={KEY_A}")) as no_index_key:
        patients = Patients(no_index_key)
        updated = await patients.update(stored.id, {"notes": "changed"})
        assert (await patients.get(stored.id)).notes == "changed"
        with pytest.raises(EncryptionKeyMissing, match="LAMINA_INDEX_KEY"):
            await patients.update(stored.id, {"email": "new@x.org"}, expected_version=2)
        with pytest.raises(EncryptionKeyMissing, match="LAMINA_INDEX_KEY"):
            await patients.add(patient("Bob", "bob@x.org"))
    assert updated.version == 2
    assert [p.email for p in await Patients(db).list()] == [EMAIL]
