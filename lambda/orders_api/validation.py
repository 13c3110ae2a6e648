"""Request bodies checked against the same JSON schemas API Gateway validates with.

API Gateway rejects most bad bodies before the function runs; the function checks again because
it must be correct on its own (tests, direct invocation, a validator switched off). The schemas
live in schemas.json, which the stack also reads to build the API's request models, so the two
checks cannot drift apart. Only the draft-04 keywords schemas.json uses are supported; an
unknown keyword fails loudly rather than being ignored.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS: dict[str, dict[str, Any]] = json.loads((Path(__file__).parent / "schemas.json").read_text())
ANNOTATIONS = {"$schema", "title", "description"}
TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


class InvalidBody(ValueError):
    """The body does not match its schema; the message names the first offending field."""


def validate(schema_name: str, document: Any) -> None:
    _check(SCHEMAS[schema_name], document, "body")


@cache
def _pattern(expression: str) -> re.Pattern[str]:
    # JSON Schema patterns follow ECMA-262, where `$` matches only at the very end; Python's
    # `$` also matches before a final newline, which would let "c-1\n" pass as "^[...]+$".
    return re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", expression))


def _is(value: Any, type_name: str) -> bool:
    if isinstance(value, bool) and type_name in {"integer", "number"}:
        return False
    return isinstance(value, TYPES[type_name])


def _check(schema: dict[str, Any], value: Any, where: str) -> None:
    unknown = set(schema) - ANNOTATIONS - _KEYWORDS.keys()
    if unknown:
        raise NotImplementedError(f"schema keyword(s) not supported: {sorted(unknown)}")
    if "type" in schema and not _is(value, schema["type"]):
        raise InvalidBody(f"{where} must be of type {schema['type']}")
    for keyword, rule in _KEYWORDS.items():
        if keyword in schema and keyword != "type":
            rule(schema, value, where)


def _properties(schema: dict[str, Any], value: Any, where: str) -> None:
    for name, subschema in schema["properties"].items():
        if name in value:
            _check(subschema, value[name], f"{where}.{name}")


def _required(schema: dict[str, Any], value: Any, where: str) -> None:
    for name in schema["required"]:
        if name not in value:
            raise InvalidBody(f"{where}.{name} is required")


def _additional(schema: dict[str, Any], value: Any, where: str) -> None:
    if schema["additionalProperties"] is False:
        extra = sorted(set(value) - set(schema.get("properties", {})))
        if extra:
            raise InvalidBody(f"{where} has unknown field(s): {', '.join(extra)}")


def _items(schema: dict[str, Any], value: Any, where: str) -> None:
    for index, item in enumerate(value):
        _check(schema["items"], item, f"{where}[{index}]")


def _bound(keyword: str, fails: Any, says: str) -> Any:
    def rule(schema: dict[str, Any], value: Any, where: str) -> None:
        if fails(value, schema[keyword]):
            raise InvalidBody(f"{where} {says.format(schema[keyword])}")

    return rule


def _pattern_rule(schema: dict[str, Any], value: Any, where: str) -> None:
    if not _pattern(schema["pattern"]).search(value):
        raise InvalidBody(f"{where} must match {schema['pattern']}")


_KEYWORDS = {
    "type": lambda schema, value, where: None,
    "required": _required,
    "additionalProperties": _additional,
    "properties": _properties,
    "items": _items,
    "minItems": _bound("minItems", lambda v, n: len(v) < n, "must have at least {} item(s)"),
    "maxItems": _bound("maxItems", lambda v, n: len(v) > n, "must have at most {} item(s)"),
    "minLength": _bound("minLength", lambda v, n: len(v) < n, "must be at least {} character(s) long"),
    "maxLength": _bound("maxLength", lambda v, n: len(v) > n, "must be at most {} character(s) long"),
    "minimum": _bound("minimum", lambda v, n: v < n, "must be at least {}"),
    "maximum": _bound("maximum", lambda v, n: v > n, "must be at most {}"),
    "pattern": _pattern_rule,
}
