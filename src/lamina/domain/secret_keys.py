"""A JSON configuration some of whose keys are secret: stored encrypted, shown as ``"****"``.

::

    class Component(Entity, Versioned, SecretConfiguration):
        name: str

    component = Component(name="warehouse", configuration={"host": "db", "password": "pw"},
                          secret_keys=["password"])
    component.configuration            # {"host": "db", "password": "****"}
    component.revealed_configuration() # {"host": "db", "password": "pw"}: for the runtime only

The values of the keys listed in ``secret_keys`` live in ``secrets``, an
``ENCRYPTED`` and ``SENSITIVE`` field: sealed at rest, masked in audit entries
and logs, never part of an API response. ``configuration`` holds the other
keys and :data:`SECRET_PLACEHOLDER` in place of each secret, so it is what
responses, audit entries and the database's plain columns show.

A secret stays writable: a new value replaces it; writing the placeholder back
(a client sending what it read) keeps it; leaving the key out of the
configuration, or out of ``secret_keys``, drops it (a secret never becomes a
plain value by being unlisted).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, JsonValue, StringConstraints, model_validator

from lamina.domain.entity import ENCRYPTED, SENSITIVE, SERVER_OWNED

SECRET_PLACEHOLDER = "****"
"""What a secret value is shown as, whatever it holds."""

SecretKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
"""The name of one configuration key."""


class SecretConfiguration(BaseModel):
    """Adds ``configuration`` (a JSON object), ``secret_keys`` (which of its keys are secret)
    and ``secrets`` (their values, encrypted; the row's column is an encrypted one)."""

    configuration: dict[str, JsonValue] = Field(default_factory=dict)
    secret_keys: Annotated[list[SecretKey], Field(max_length=100)] = Field(default_factory=list)
    secrets: Annotated[dict[str, JsonValue], ENCRYPTED, SENSITIVE, SERVER_OWNED] = Field(
        default_factory=dict
    )

    @model_validator(mode="before")
    @classmethod
    def _keep_secrets_apart(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        configuration = data.get("configuration") or {}
        keys = data.get("secret_keys") or []
        if not isinstance(configuration, dict) or not isinstance(keys, list):
            return data  # field validation says what is wrong
        kept = data.get("secrets") or {}
        plain, secrets = dict(configuration), {}
        for key in keys:
            if not isinstance(key, str) or key not in plain:
                continue
            value = plain[key]
            keep = value == SECRET_PLACEHOLDER and isinstance(kept, dict) and key in kept
            secrets[key] = kept[key] if keep else value
            plain[key] = SECRET_PLACEHOLDER
        return {**data, "configuration": plain, "secrets": secrets}

    def revealed_configuration(self) -> dict[str, JsonValue]:
        """The configuration with the secrets' values: for the component's own runtime,
        never for a response or a log."""
        return {**self.configuration, **self.secrets}
