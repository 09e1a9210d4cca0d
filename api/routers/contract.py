"""`/v1/contract`: the documents a producer needs, served without authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from taskstream.contract import contract

router = APIRouter(prefix="/v1/contract", tags=["contract"])

SCHEMA_JSON = "application/schema+json"


@router.get(
    "/commands",
    response_class=JSONResponse,
    responses={200: {"content": {SCHEMA_JSON: {}}, "description": "A JSON Schema document."}},
)
async def commands_contract() -> Any:
    """JSON Schema of the commands a service may publish onto the commands topic."""
    return JSONResponse(contract(), media_type=SCHEMA_JSON)
