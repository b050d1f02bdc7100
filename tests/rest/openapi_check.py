"""Validate REST answers against the OpenAPI document's own response schemas (jsonschema,
draft 2020-12, which OpenAPI 3.1 schemas are)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from timebase.rest import build_spec

SPEC = build_spec("0")
_URI = "urn:timebase:openapi"
_REGISTRY: Registry[Any] = Registry().with_resource(
    _URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)


def response_schema(path: str, method: str, status: int, media: str) -> dict[str, Any]:
    """The documented schema of one answer (KeyError when it is not documented)."""
    response = SPEC["paths"][path][method]["responses"][str(status)]
    return dict(response["content"][media]["schema"])


def validate(path: str, method: str, status: int, body: Any, media: str = "application/json"):
    """Raise jsonschema.ValidationError unless `body` matches what the spec documents."""
    schema = _rebase(response_schema(path, method, status, media))
    Draft202012Validator(schema, registry=_REGISTRY, format_checker=FormatChecker()).validate(body)


def _rebase(node: Any) -> Any:
    """Local `#/components/...` references made absolute (into the spec's resource)."""
    if isinstance(node, dict):
        return {
            k: (_URI + v if k == "$ref" and v.startswith("#/") else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node
