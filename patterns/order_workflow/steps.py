"""The order workflow's steps that need no code: DynamoDB, SNS and SQS direct integrations.

The inventory table holds one item per SKU: `sku` (key), `available` (number) and
`reservations` (a map of "<orderId>:<line index>" to quantity, `{}` when none). Reserving is one
conditional update per line of the order: it takes stock only when enough is available AND the
line holds no reservation yet, so a retried reservation never takes stock twice. Releasing
gives back exactly what the order holds and removes its reservation, so releasing twice (or
releasing what was never reserved) changes nothing.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from .saga import FAILURE_PATH, TRANSIENT_DYNAMODB_ERRORS, RetryPolicy

OUT_OF_STOCK = "OutOfStock"
INVALID_ORDER = "InvalidOrder"
CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"
ORDER_ID = "$.orderId"

Value = tasks.DynamoAttributeValue


def _line_item_selector() -> dict[str, str]:
    """One line of the order; `line` ("<orderId>:<index>") keys its reservation, so two lines of
    the same SKU hold two reservations, and a retried line finds its own."""
    return {
        "line": sfn.JsonPath.format(
            "{}:{}", sfn.JsonPath.string_at(ORDER_ID), sfn.JsonPath.string_at("$$.Map.Item.Index")
        ),
        "sku": sfn.JsonPath.string_at("$$.Map.Item.Value.sku"),
        "quantity": sfn.JsonPath.string_at("$$.Map.Item.Value.quantity"),
    }


def _quantity() -> Value:
    return Value.number_from_string(sfn.JsonPath.json_to_string(sfn.JsonPath.number_at("$.quantity")))


def _sku_key() -> dict[str, Value]:
    return {"sku": Value.from_string(sfn.JsonPath.string_at("$.sku"))}


def reserve_inventory(
    scope: Construct, *, table: dynamodb.ITable, retry: RetryPolicy, max_concurrency: int
) -> sfn.Map:
    """A Map over the order's lines; fails with OutOfStock or InvalidOrder (named errors)."""
    check_line = sfn.Choice(scope, "CheckLineItem")
    invalid = sfn.Fail(
        scope, "InvalidLineItem", error=INVALID_ORDER, cause="A line needs a sku and a quantity > 0"
    )
    reserve = tasks.DynamoUpdateItem(
        scope,
        "ReserveLineItem",
        table=table,
        key=_sku_key(),
        update_expression="SET available = available - :qty, reservations.#line = :qty",
        condition_expression="available >= :qty AND attribute_not_exists(reservations.#line)",
        expression_attribute_names={"#line": sfn.JsonPath.string_at("$.line")},
        expression_attribute_values={":qty": _quantity()},
        result_path=sfn.JsonPath.DISCARD,
    )
    retry.apply(reserve, TRANSIENT_DYNAMODB_ERRORS)
    # The condition fails for two reasons: not enough stock, or this line already holds its
    # reservation (a retry of an update that did succeed). A consistent read tells which.
    lookup = tasks.DynamoGetItem(
        scope,
        "LookUpReservation",
        table=table,
        key=_sku_key(),
        consistent_read=True,
        projection_expression=[tasks.DynamoProjectionExpression().with_attribute("reservations.#line")],
        expression_attribute_names={"#line": sfn.JsonPath.string_at("$.line")},
        result_path="$.lookup",
    )
    retry.apply(lookup, TRANSIENT_DYNAMODB_ERRORS)
    out_of_stock = sfn.Fail(
        scope,
        "LineOutOfStock",
        error=OUT_OF_STOCK,
        cause_path=sfn.JsonPath.format("Not enough of {} in stock", sfn.JsonPath.string_at("$.sku")),
    )
    reserved = sfn.Succeed(scope, "LineReserved")
    already_reserved = sfn.Choice(scope, "AlreadyReserved")
    already_reserved.when(sfn.Condition.is_present("$.lookup.Item.reservations"), reserved).otherwise(
        out_of_stock
    )
    reserve.add_catch(lookup, errors=[CONDITION_FAILED], result_path=sfn.JsonPath.DISCARD)
    lookup.next(already_reserved)
    reserve.next(reserved)
    valid_line = sfn.Condition.and_(
        sfn.Condition.is_string("$.sku"),
        sfn.Condition.is_numeric("$.quantity"),
        sfn.Condition.number_greater_than("$.quantity", 0),
    )
    check_line.when(valid_line, reserve).otherwise(invalid)
    reservation = sfn.Map(
        scope,
        "ReserveInventory",
        items_path="$.items",
        item_selector=_line_item_selector(),
        max_concurrency=max_concurrency,
        result_path=sfn.JsonPath.DISCARD,
    )
    reservation.item_processor(check_line)
    return reservation


def release_inventory(scope: Construct, *, table: dynamodb.ITable) -> sfn.Map:
    """The compensation of `reserve_inventory`: gives back what each line holds, if anything."""
    release = tasks.DynamoUpdateItem(
        scope,
        "ReleaseLineItem",
        table=table,
        key=_sku_key(),
        update_expression="SET available = available + reservations.#line REMOVE reservations.#line",
        condition_expression="attribute_exists(reservations.#line)",
        expression_attribute_names={"#line": sfn.JsonPath.string_at("$.line")},
        result_path=sfn.JsonPath.DISCARD,
    )
    nothing_held = sfn.Succeed(scope, "NothingHeld")
    release.add_catch(nothing_held, errors=[CONDITION_FAILED], result_path=sfn.JsonPath.DISCARD)
    releasing = sfn.Map(
        scope,
        "ReleaseInventory",
        items_path="$.items",
        item_selector=_line_item_selector(),
        result_path=sfn.JsonPath.DISCARD,
    )
    releasing.item_processor(release)
    return releasing


def commit_inventory(scope: Construct, *, table: dynamodb.ITable, retry: RetryPolicy) -> sfn.Map:
    """Once the order has shipped its reservations become sales: drop them from the SKU items
    (the stock stays taken), so the reservation maps hold only orders still in flight."""
    commit = tasks.DynamoUpdateItem(
        scope,
        "CommitLineItem",
        table=table,
        key=_sku_key(),
        update_expression="REMOVE reservations.#line",
        expression_attribute_names={"#line": sfn.JsonPath.string_at("$.line")},
        result_path=sfn.JsonPath.DISCARD,
    )
    retry.apply(commit, [sfn.Errors.TASKS_FAILED])
    committing = sfn.Map(
        scope,
        "CommitInventory",
        items_path="$.items",
        item_selector=_line_item_selector(),
        result_path=sfn.JsonPath.DISCARD,
    )
    committing.item_processor(commit)
    return committing


def record_status(
    scope: Construct,
    construct_id: str,
    *,
    table: dynamodb.ITable,
    status: str,
    retry: RetryPolicy,
) -> tasks.DynamoUpdateItem:
    """Write the order's outcome (and, unless it completed, the error that decided it) into the
    orders table."""
    values = {
        ":status": Value.from_string(status),
        ":customer": Value.from_string(sfn.JsonPath.string_at("$.customerId")),
        ":at": Value.from_string(sfn.JsonPath.string_at("$$.State.EnteredTime")),
        ":execution": Value.from_string(sfn.JsonPath.string_at("$$.Execution.Id")),
    }
    update = "SET #status = :status, customerId = :customer, updatedAt = :at, executionId = :execution"
    if status != "COMPLETED":
        values[":reason"] = Value.from_string(sfn.JsonPath.string_at(f"{FAILURE_PATH}.Error"))
        values[":detail"] = Value.from_string(sfn.JsonPath.string_at(f"{FAILURE_PATH}.Cause"))
        update += ", reason = :reason, detail = :detail"
    task = tasks.DynamoUpdateItem(
        scope,
        construct_id,
        table=table,
        key={"orderId": Value.from_string(sfn.JsonPath.string_at(ORDER_ID))},
        update_expression=update,
        expression_attribute_names={"#status": "status"},
        expression_attribute_values=values,
        result_path=sfn.JsonPath.DISCARD,
    )
    retry.apply(task, [sfn.Errors.TASKS_FAILED])
    return task


def order_completed_event() -> dict[str, object]:
    return {
        "eventId": sfn.JsonPath.format("{}:OrderCompleted", sfn.JsonPath.string_at(ORDER_ID)),
        "eventType": "OrderCompleted",
        "order": {
            "orderId": sfn.JsonPath.string_at(ORDER_ID),
            "customerId": sfn.JsonPath.string_at("$.customerId"),
            "total": sfn.JsonPath.number_at("$.total"),
            "requiresShipping": sfn.JsonPath.string_at("$.requiresShipping"),
        },
    }


def publish_order_completed(scope: Construct, *, topic: sns.ITopic, retry: RetryPolicy) -> tasks.SnsPublish:
    """Publish the event the FanOut consumers read. Its id is derived from the order, so a
    publish retried after SNS did take it is deduplicated by the consumers."""
    event = order_completed_event()
    task = tasks.SnsPublish(
        scope,
        "PublishOrderCompleted",
        topic=topic,
        message=sfn.TaskInput.from_object(event),
        message_attributes={"eventType": tasks.MessageAttribute(value="OrderCompleted")},
        result_path=sfn.JsonPath.DISCARD,
    )
    retry.apply(task, [sfn.Errors.TASKS_FAILED])
    return task


ORDER_EVENTS_SOURCE = "refarch.orders"


def put_order_completed_event(
    scope: Construct, *, event_bus: events.IEventBus, retry: RetryPolicy
) -> tasks.EventBridgePutEvents:
    """Put the same OrderCompleted event on an EventBridge bus, whose rules route it by content
    (the EventDriven pattern). A retried put may deliver twice: consumers key on the orderId."""
    task = tasks.EventBridgePutEvents(
        scope,
        "PutOrderCompletedEvent",
        entries=[
            tasks.EventBridgePutEventsEntry(
                event_bus=event_bus,
                source=ORDER_EVENTS_SOURCE,
                detail_type="OrderCompleted",
                detail=sfn.TaskInput.from_object(order_completed_event()),
            )
        ],
        result_path=sfn.JsonPath.DISCARD,
    )
    retry.apply(task, [sfn.Errors.TASKS_FAILED])
    return task


def report_to_dead_letter_queue(
    scope: Construct,
    construct_id: str,
    *,
    queue: sqs.IQueue,
    problem: str,
    error_path: str,
    retry: RetryPolicy,
) -> tasks.SqsSendMessage:
    """Send what a person needs to finish the order by hand to the dead-letter queue: the
    problem, the execution, the order id and lines, the error at `error_path` and, when that is
    not the saga's own failure, the failure that started the compensations too. Never the whole
    state: it holds the customer's details, which have no place in a queue that keeps messages
    for 14 days. The task's result keeps `problem`, for the final Fail state to name."""
    body: dict[str, object] = {
        "problem": problem,
        "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
        "orderId": sfn.JsonPath.string_at(ORDER_ID),
        "items": sfn.JsonPath.object_at("$.items"),
        "error": sfn.JsonPath.object_at(error_path),
    }
    if error_path != FAILURE_PATH:
        body["failure"] = sfn.JsonPath.object_at(FAILURE_PATH)
    task = tasks.SqsSendMessage(
        scope,
        construct_id,
        queue=queue,
        message_body=sfn.TaskInput.from_object(body),
        result_selector={"problem": problem},
        result_path="$.report",
    )
    retry.apply(task, [sfn.Errors.TASKS_FAILED])
    return task


def forget_payment_token(
    scope: Construct, *, vault: dynamodb.ITable, retry: RetryPolicy
) -> tasks.DynamoDeleteItem:
    """Delete the order's sealed payment token once the saga is ending without a charge decided
    (out of stock, a failed step): the payment step deletes it when it decides, this covers the
    orders it never saw. Deleting what is already gone changes nothing; a delete that keeps
    failing leaves the token to the vault's TTL and the saga goes on."""
    task = tasks.DynamoDeleteItem(
        scope,
        "ForgetPaymentToken",
        table=vault,
        key={"ref": Value.from_string(sfn.JsonPath.string_at("$.paymentTokenRef"))},
        result_path=sfn.JsonPath.DISCARD,
    )
    retry.apply(task, [sfn.Errors.TASKS_FAILED])
    return task
