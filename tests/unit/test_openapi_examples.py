"""The OpenAPI document shows an example for every request, answer and problem."""

from __future__ import annotations

from typing import Any

from api.app import create_app
from taskstream.settings import Settings

DOC = create_app(Settings()).openapi()
SCHEMAS = DOC["components"]["schemas"]


def _has_example(media: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = media.get("schema") or {}
    if "$ref" in schema:
        return bool(SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]].get("examples"))
    return bool(schema.get("examples"))


def _operations() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, ops in DOC["paths"].items()
        for method, op in ops.items()
    ]


def test_every_request_body_and_answer_has_an_example() -> None:
    missing = []
    for label, op in _operations():
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if not _has_example(media):
                missing.append(f"{label} request {media_type}")
        for status, response in op["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if not _has_example(media):
                    missing.append(f"{label} {status} {media_type}")
    assert missing == []


def test_authenticated_operations_document_their_refusals() -> None:
    for label, op in _operations():
        if op.get("security"):
            assert {"401", "403", "429", "500"} <= set(op["responses"]), label
        if "requestBody" in op:
            assert "413" in op["responses"], label


def test_problem_examples_match_their_status() -> None:
    for label, op in _operations():
        for status, response in op["responses"].items():
            problem = response.get("content", {}).get("application/problem+json")
            if problem is not None:
                assert problem["example"]["status"] == int(status), label
