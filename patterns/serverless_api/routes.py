"""What a user tells `ServerlessApi` about their API: routes with what each validates, and the
table's secondary indexes. Plain data, checked when built, so a mistake fails at synth naming
the prop."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import aws_apigateway as apigateway

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
SEGMENT = r"(?:[A-Za-z0-9._-]+|\{[A-Za-z][A-Za-z0-9_]*\})"
PATH = re.compile(rf"^/{SEGMENT}(?:/{SEGMENT})*$")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Route:
    """One method on one path, e.g. Route("PUT", "/orders/{id}", body_schema=...).

    `body_schema` is a JSON schema (draft 4, as API Gateway reads it) the body must match.
    `query_parameters` and `headers` map a name to whether it is required. Path parameters
    (`{id}`) are always required.
    """

    method: str
    path: str
    body_schema: Mapping[str, Any] | None = None
    query_parameters: Mapping[str, bool] = field(default_factory=dict)
    headers: Mapping[str, bool] = field(default_factory=dict)

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"\{([^}]+)\}", self.path)

    def request_parameters(self) -> dict[str, bool]:
        parameters = {f"method.request.path.{name}": True for name in self.path_parameters}
        parameters.update({f"method.request.querystring.{n}": r for n, r in self.query_parameters.items()})
        parameters.update({f"method.request.header.{n}": r for n, r in self.headers.items()})
        return parameters


@dataclass(frozen=True)
class TableIndex:
    """A global secondary index (all attributes projected) the handler queries."""

    name: str
    partition_key: str
    sort_key: str | None = None


def check_routes(routes: Sequence[Route]) -> None:
    if not routes:
        raise ValueError("routes: give at least one Route")
    seen: set[tuple[str, str]] = set()
    for route in routes:
        where = f"routes: {route.method} {route.path}"
        if route.method not in METHODS:
            raise ValueError(f"{where}: method must be one of {', '.join(sorted(METHODS))}")
        if not PATH.fullmatch(route.path):
            raise ValueError(f"{where}: path must look like /orders or /orders/{{id}}")
        if (route.method, route.path) in seen:
            raise ValueError(f"{where}: declared twice")
        seen.add((route.method, route.path))
        if route.body_schema is not None and route.method not in BODY_METHODS:
            raise ValueError(f"{where}: a {route.method} request has no body to validate")
        if route.method in BODY_METHODS and route.body_schema is None:
            raise ValueError(f"{where}: give a body_schema; every body is validated")
        if route.body_schema is not None:
            json_schema(route.body_schema, f"{where}: body_schema")
        for name in [*route.query_parameters, *route.headers]:
            if not NAME.fullmatch(name):
                raise ValueError(f"{where}: {name!r} is not a valid parameter name")
    for name in {name for route in routes for name in route.path_parameters}:
        if not NAME.fullmatch(name):
            raise ValueError(f"routes: path parameter {{{name}}} is not a valid name")


# JSON-schema keyword -> JsonSchema argument, for the keywords models use in practice.
_KEYWORDS = {
    "$schema": "schema",
    "title": "title",
    "description": "description",
    "type": "type",
    "required": "required",
    "enum": "enum",
    "format": "format",
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "multipleOf": "multiple_of",
    "minItems": "min_items",
    "maxItems": "max_items",
    "uniqueItems": "unique_items",
    "minProperties": "min_properties",
    "maxProperties": "max_properties",
}
_SCHEMA_URIS = {
    "http://json-schema.org/draft-04/schema#": apigateway.JsonSchemaVersion.DRAFT4,
    "http://json-schema.org/draft-07/schema#": apigateway.JsonSchemaVersion.DRAFT7,
}


def json_schema(document: Mapping[str, Any], where: str = "body_schema") -> apigateway.JsonSchema:
    """A plain JSON-schema dict as the typed `JsonSchema` an API Gateway model takes."""
    arguments: dict[str, Any] = {}
    for keyword, value in document.items():
        if keyword == "properties":
            arguments["properties"] = {
                name: json_schema(inner, f"{where}.properties.{name}") for name, inner in value.items()
            }
        elif keyword == "items":
            arguments["items"] = json_schema(value, f"{where}.items")
        elif keyword == "additionalProperties":
            arguments["additional_properties"] = (
                value if isinstance(value, bool) else json_schema(value, f"{where}.additionalProperties")
            )
        elif keyword == "type":
            arguments["type"] = _schema_type(value, f"{where}.type")
        elif keyword == "$schema":
            if value not in _SCHEMA_URIS:
                raise ValueError(f"{where}: $schema {value!r} is not draft 4 or draft 7")
            arguments["schema"] = _SCHEMA_URIS[value]
        elif keyword in _KEYWORDS:
            arguments[_KEYWORDS[keyword]] = list(value) if isinstance(value, (list, tuple)) else value
        else:
            raise ValueError(f"{where}: JSON-schema keyword {keyword!r} is not supported here")
    return apigateway.JsonSchema(**arguments)


_TYPES = {kind.name.lower(): kind for kind in apigateway.JsonSchemaType}


def _schema_type(value: Any, where: str) -> apigateway.JsonSchemaType | list[apigateway.JsonSchemaType]:
    """A JSON-schema type name (or a list of them) as API Gateway's enum; a typo is named."""
    if isinstance(value, list):
        return [_one_type(item, where) for item in value]
    return _one_type(value, where)


def _one_type(value: Any, where: str) -> apigateway.JsonSchemaType:
    if not isinstance(value, str) or value not in _TYPES:
        raise ValueError(f"{where}: {value!r} is not a JSON-schema type; one of {', '.join(sorted(_TYPES))}")
    return _TYPES[value]
