"""`/v1/admin/keys`: create, list and revoke the API keys of the caller's tenant (`admin`)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.apikeys import KEY_ID_PATTERN
from api.deps import AdaptersDep, AdminDep, SettingsDep
from api.key_schemas import CreateKeyRequest, KeyCreated, KeyOut, KeyPage
from api.paging import page
from api.ports import Adapters, KeyAdmin
from api.problems import ProblemError, problem_responses

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1/admin/keys",
    tags=["admin"],
    responses=problem_responses(401, 403, 422, 429, 500, 503),
)

KeyId = Annotated[str, Path(pattern=KEY_ID_PATTERN, description="The key's public id.")]


def _admin(adapters: Adapters) -> KeyAdmin:
    if adapters.key_admin is None:
        raise ProblemError(503, "API keys are not stored by this server", slug="no-key-store")
    return adapters.key_admin


@router.post("", status_code=201, response_model=KeyCreated)
async def create_key(
    body: CreateKeyRequest, principal: AdminDep, adapters: AdaptersDep
) -> dict[str, Any]:
    """Create a key in the caller's tenant; the answer holds the key, shown this once."""
    row, key = await _admin(adapters).create(
        principal.tenant,
        [str(s) for s in body.scopes],
        name=body.name,
        description=body.description,
    )
    log.info(
        "api key created",
        extra={"key_id": row["id"], "tenant": row["tenant"], "by": principal.key_id},
    )
    return {**row, "key": key}


@router.get("", response_model=KeyPage)
async def list_keys(
    principal: AdminDep,
    adapters: AdaptersDep,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, description="Page size.")] = None,
    cursor: Annotated[str | None, Query(max_length=1000, description="From `next_cursor`.")] = None,
) -> dict[str, Any]:
    """The caller's tenant's keys, newest first, revoked ones included (no secrets)."""
    admin = _admin(adapters)

    async def fetch(size: int) -> tuple[list[dict[str, Any]], str | None]:
        return await admin.list(principal.tenant, limit=size, cursor=cursor)

    return await page(settings, limit, fetch)


@router.post("/{key_id}/revoke", response_model=KeyOut, responses=problem_responses(404))
async def revoke_key(key_id: KeyId, principal: AdminDep, adapters: AdaptersDep) -> dict[str, Any]:
    """Revoke a key of the caller's tenant; every API process refuses it within
    `api_key_cache_seconds`. Revoking again changes nothing."""
    row = await _admin(adapters).revoke(key_id, tenant=principal.tenant)
    if row is None:
        raise ProblemError(
            404,
            f"no API key {key_id} in tenant {principal.tenant}",
            slug="key-not-found",
            title="API key not found",
        )
    log.info("api key revoked", extra={"key_id": key_id, "by": principal.key_id})
    return row
