"""Orders in one DynamoDB table, with the guarantees the API promises.

- Create is idempotent per (caller, Idempotency-Key): one transaction writes the order and a
  marker holding the first response, both conditional, so a retry (even a concurrent one) writes
  nothing new and gets the first response back.
- Update is optimistic: it succeeds only while the stored version is the one the caller read.
- Every order belongs to its owner, the caller who created it (their Cognito `sub`). Update and
  delete carry the owner in their ConditionExpression, so the check and the write are one atomic
  step: no read-then-write race can change another caller's order. A read compares the owner
  after GetItem (nothing is written). Another owner's order is reported exactly like a missing
  one, so nobody learns that it exists.
- Listing pages through the `byOwner` global secondary index (ownerId, createdAt), keyed on the
  owner, with an opaque cursor bound to that owner.

Items: orders are keyed by their id (a UUID); idempotency markers by "idempotency#<owner>#<key>"
(never a UUID, so the API cannot reach them), and expire through the table's TTL attribute.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
MAX_PAGE_SIZE = 100
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class OrderNotFound(LookupError):
    pass


class VersionConflict(Exception):
    def __init__(self, current_version: int) -> None:
        super().__init__(f"the order is at version {current_version}")
        self.current_version = current_version


class KeyReused(Exception):
    """The Idempotency-Key was already used for a different request."""


class CreateInProgress(Exception):
    """Another request with the same Idempotency-Key is being written right now."""


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Created:
    order: dict[str, Any]
    replayed: bool


def _item(document: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in document.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; every number in an order is an integer."""
    if isinstance(value, dict):
        return {name: _plain(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    if type(value).__name__ == "Decimal":
        return int(value)
    return value


def _document(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _total(items: list[dict[str, Any]]) -> int:
    return sum(item["quantity"] * item["unitPriceCents"] for item in items)


def _public(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != "kind"}


# An order (not an idempotency marker) that exists and belongs to the caller, checked by DynamoDB
# in the same request as the write.
OWNED = "attribute_exists(id) AND kind = :order AND ownerId = :owner"


def _owner_values(owner: str) -> dict[str, str]:
    return {":order": "order", ":owner": owner}


def _owned_by(item: dict[str, Any], owner: str) -> bool:
    return item.get("kind") == {"S": "order"} and item.get("ownerId") == {"S": owner}


class OrderStore:
    def __init__(self, table_name: str, index_name: str) -> None:
        self.table_name = table_name
        self.index_name = index_name
        self.client = boto3.client("dynamodb")

    def create(self, owner: str, idempotency_key: str, request: dict[str, Any]) -> Created:
        """`owner` is the authenticated caller; the request body never names it. The key has no
        '#', so (owner, key) maps to exactly one marker id."""
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        marker_id = f"idempotency#{owner}#{idempotency_key}"
        now = _now()
        order = {
            "id": str(uuid.uuid4()),
            "ownerId": owner,
            "items": request["items"],
            "requiresShipping": request.get("requiresShipping", True),
            "totalCents": _total(request["items"]),
            "version": 1,
            "createdAt": now,
            "updatedAt": now,
        }
        epoch = int(time.time())
        marker = {
            "id": marker_id,
            "kind": "idempotency",
            "orderId": order["id"],
            "fingerprint": fingerprint,
            "response": json.dumps(order),
            "expiresAt": epoch + IDEMPOTENCY_WINDOW_SECONDS,
        }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _item(marker),
                            # TTL deletes expired items lazily: an expired marker counts as absent.
                            "ConditionExpression": "attribute_not_exists(id) OR expiresAt < :now",
                            "ExpressionAttributeValues": {":now": {"N": str(epoch)}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _item({**order, "kind": "order"}),
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] != "ConditionalCheckFailed":
                raise CreateInProgress() from None  # e.g. TransactionConflict with a twin request
            return self._replay(marker_id, fingerprint)
        return Created(order, replayed=False)

    def _replay(self, marker_id: str, fingerprint: str) -> Created:
        found = self.client.get_item(
            TableName=self.table_name, Key={"id": {"S": marker_id}}, ConsistentRead=True
        ).get("Item")
        if found is None:
            raise RuntimeError("create was cancelled but no idempotency marker exists")
        marker = _document(found)
        if marker["fingerprint"] != fingerprint:
            raise KeyReused()
        return Created(json.loads(marker["response"]), replayed=True)

    def get(self, owner: str, order_id: str) -> dict[str, Any]:
        found = self.client.get_item(
            TableName=self.table_name, Key={"id": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        if found is None or not _owned_by(found, owner):
            raise OrderNotFound(order_id)
        return _public(_document(found))

    def update(
        self, owner: str, order_id: str, expected_version: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            result = self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": order_id}},
                UpdateExpression=(
                    "SET #items = :items, requiresShipping = :shipping, totalCents = :total, "
                    "updatedAt = :now, version = :next"
                ),
                ConditionExpression=f"{OWNED} AND version = :expected",
                ExpressionAttributeNames={"#items": "items"},
                ExpressionAttributeValues=_item(
                    {
                        ":items": changes["items"],
                        ":shipping": changes["requiresShipping"],
                        ":total": _total(changes["items"]),
                        ":now": _now(),
                        ":next": expected_version + 1,
                        ":expected": expected_version,
                        **_owner_values(owner),
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # The item as it was when the condition failed, from the same atomic request.
            found = error.response.get("Item")
            if found is None or not _owned_by(found, owner):
                raise OrderNotFound(order_id) from None
            raise VersionConflict(int(found["version"]["N"])) from None
        return _public(_document(result["Attributes"]))

    def delete(self, owner: str, order_id: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"id": {"S": order_id}},
                ConditionExpression=OWNED,
                ExpressionAttributeValues=_item(_owner_values(owner)),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise OrderNotFound(order_id) from None

    def by_owner(self, owner: str, limit: int, cursor: str | None) -> dict[str, Any]:
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": self.index_name,
            "KeyConditionExpression": "ownerId = :owner",
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "Limit": limit,
        }
        if cursor is not None:
            query["ExclusiveStartKey"] = _item(decode_cursor(cursor, owner))
        page = self.client.query(**query)
        last = page.get("LastEvaluatedKey")
        return {
            "orders": [_public(_document(item)) for item in page.get("Items", [])],
            "nextCursor": encode_cursor(_document(last)) if last else None,
        }


CURSOR_KEYS = {"id", "ownerId", "createdAt"}
MAX_CURSOR_LENGTH = 512  # three values of at most 64 characters, as JSON, in base64


def encode_cursor(last_key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, owner: str) -> dict[str, Any]:
    """The position a cursor names, refused unless it came from this owner's listing."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("cursor is not one this API returned")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidCursor("cursor is not one this API returned") from None
    if (
        not isinstance(key, dict)
        or set(key) != CURSOR_KEYS
        or not all(isinstance(value, str) and 0 < len(value) <= 64 for value in key.values())
        or key["ownerId"] != owner
    ):
        raise InvalidCursor("cursor does not belong to this query")
    try:
        uuid.UUID(key["id"])
    except ValueError:
        raise InvalidCursor("cursor does not belong to this query") from None
    return key
