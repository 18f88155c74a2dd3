"""``SecretConfiguration``: the secret keys of a JSON configuration kept apart and shown masked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lamina.domain import (
    ENCRYPTED,
    SECRET_PLACEHOLDER,
    SENSITIVE,
    SERVER_OWNED,
    Entity,
    SecretConfiguration,
    Versioned,
)


class Connector(Entity, Versioned, SecretConfiguration):
    name: str


def test_listed_keys_move_to_the_secrets_and_show_as_the_placeholder() -> None:
    c = Connector(name="x", configuration={"user": "u", "pw": "s3"}, secret_keys=["pw", "other"])
    assert c.configuration == {"user": "u", "pw": SECRET_PLACEHOLDER}
    assert c.secrets == {"pw": "s3"}
    assert c.revealed_configuration() == {"user": "u", "pw": "s3"}


def test_the_placeholder_keeps_a_secret_a_new_value_replaces_it_unlisting_drops_it() -> None:
    c = Connector(name="x", configuration={"pw": "p"}, secret_keys=["pw"])
    assert c.evolve(configuration={"pw": SECRET_PLACEHOLDER, "a": 1}).secrets == {"pw": "p"}
    assert c.evolve(configuration={"pw": "q"}).secrets == {"pw": "q"}
    assert c.evolve(configuration={}).secrets == {}
    dropped = c.evolve(secret_keys=[])
    assert dropped.secrets == {}
    assert dropped.configuration == {"pw": SECRET_PLACEHOLDER}  # never the value
    assert c.evolve(secret_keys=["pw"]) == c  # validating again changes nothing


def test_secrets_are_encrypted_sensitive_and_server_owned() -> None:
    for marker in (ENCRYPTED, SENSITIVE, SERVER_OWNED):
        assert "secrets" in Connector.fields_marked(marker)
    with pytest.raises(ValidationError):
        Connector(name="x", configuration=[1], secret_keys=["a"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Connector(name="x", secret_keys=[""])
