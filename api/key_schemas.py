"""Request and response bodies of `/v1/admin/keys`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_NO_NUL = r"^[^\x00]*$"  # Postgres text cannot hold U+0000
Scope = Literal["tasks:read", "tasks:write", "admin"]

_KEY_EXAMPLE: dict[str, Any] = {
    "id": "k3v9q2m8x1c4b7n0",
    "tenant": "acme",
    "scopes": ["tasks:read", "tasks:write"],
    "name": "billing-service",
    "description": "submits invoice tasks",
    "created_at": "2026-01-01T12:00:00+00:00",
    "revoked_at": None,
    "last_used_at": "2026-01-02T08:15:00+00:00",
}


class CreateKeyRequest(BaseModel):
    """A key for the caller's tenant with these scopes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"scopes": ["tasks:read", "tasks:write"], "name": "billing-service"},
                {"scopes": ["tasks:read"], "name": "dashboard", "description": "read only"},
            ]
        },
    )

    scopes: list[Scope] = Field(min_length=1, max_length=3, description="What the key may do.")
    name: str = Field("", max_length=200, pattern=_NO_NUL, description="Who or what uses the key.")
    description: str = Field("", max_length=1000, pattern=_NO_NUL)


class KeyOut(BaseModel):
    """An API key's public fields (never its secret)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: str = Field(description="Public id: the `tsk_<id>_…` prefix of the key; safe to log.")
    tenant: str
    scopes: list[Scope]
    name: str
    description: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = Field(
        None, description="Written in batches: may lag by `api_key_last_used_flush_seconds`."
    )


class KeyCreated(KeyOut):
    """A new key: `key` is shown this once and cannot be recovered."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_KEY_EXAMPLE,
                    "last_used_at": None,
                    "key": "tsk_k3v9q2m8x1c4b7n0_" + "Zm9v" * 10 + "YmE",
                }
            ]
        }
    )

    key: str = Field(description="The API key: send as `Authorization: Bearer <key>`.")


class KeyPage(BaseModel):
    """A page of keys, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_KEY_EXAMPLE]}]})

    items: list[KeyOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")
