"""An order, from payment to shipment, as a saga in a Standard Step Functions state machine.

Validate -> reserve inventory (DynamoDB) -> take payment (Lambda) -> arrange shipment (Lambda)
-> record the order completed (DynamoDB) -> publish OrderCompleted (SNS). A failure after a step
took effect runs the compensations of the steps done, newest first (refund payment, release
inventory), then records the order as DECLINED (out of stock, payment declined: the execution
succeeds, these are business outcomes) or FAILED with the reason (the execution fails). A
compensation that keeps failing sends the order and the error to a dead-letter queue.

Shipment is the pivot: once arranged, the order goes forward only; recording and publishing are
retried, and if they still fail the order goes to the dead-letter queue rather than being undone.

Orders arrive on an SQS queue; a small starter function starts one execution per order, named
after the order id, so a message delivered twice starts one execution. The starter takes the
payment token out of the order and seals it in the payment-token vault (a DynamoDB table
encrypted with its own customer-managed key, items expiring by TTL) that only the payment
function reads: the execution's input, its history, its logs and the dead-letter messages carry
a reference (`paymentTokenRef`), never the token.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ..shared.backup import mark_for_backup
from ..shared.defaults import (
    DLQ_REASON,
    Profile,
    acknowledge,
    dead_letter_queue,
    encryption_key,
    function_behind,
    log_group,
    new_alarm_topic,
    profile_of,
)
from ..shared.props import PropError, expect, whole_seconds
from ..shared.tables import on_demand_table
from . import steps
from .saga import (
    COMPENSATION_FAILURE_PATH,
    FAILURE_PATH,
    RECORD_FAILURE_PATH,
    TRANSIENT_LAMBDA_ERRORS,
    Compensation,
    CompensationChain,
    RetryPolicy,
)
from .starter import QueueStarter, alarm_on_any

PAYMENT_DECLINED = "PaymentDeclined"
RETRYABLE_HANDLER_ERROR = "ProviderUnavailable"
"""A payment or shipment function raises an error of this name for a transient provider failure."""
BUSINESS_OUTCOMES = (steps.OUT_OF_STOCK, PAYMENT_DECLINED)
"""Named errors that decline the order cleanly: the execution succeeds with status DECLINED."""

SEALED_FIELD = "paymentToken"
"""The order field the starter seals in the vault; the state carries `paymentTokenRef`."""
PAYMENT_TOKENS_ENV = "PAYMENT_TOKENS_TABLE"
"""The payment function's environment variable naming the vault."""
VAULT_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
"""What reading and deleting an item of a table encrypted with a customer-managed key needs."""
SEALED_TTL_MARGIN = Duration.hours(1)


def lambda_invoke_reason(step: str, function: lambda_.IFunction) -> str:
    """The reason for the IAM5 finding on one function's ARN:* in the state machine's policy."""
    return (
        f"The {step} step invokes {function.node.path}; CDK's LambdaInvoke grants "
        "lambda:InvokeFunction on that function's ARN and ARN:* (its versions and aliases), "
        "this one function only."
    )


LOG_DELIVERY_REASON = (
    "CloudWatch Logs delivery actions (logs:CreateLogDelivery and related) and X-Ray trace "
    "actions support no resource-level permissions; AWS documents Resource '*'."
)
STEP_FUNCTION_DLQ_REASON = (
    "A Lambda dead-letter queue only receives failed asynchronous invocations; the state machine "
    "invokes this function synchronously, retries and catches its errors, and a compensation "
    "that keeps failing goes to the workflow's own dead-letter queue."
)
KMS_GRANT_REASON = (
    "Sending to a KMS-encrypted queue and publishing to a KMS-encrypted topic need "
    "kms:GenerateDataKey and kms:Decrypt on their keys (SQS Developer Guide, Key management; "
    "SNS Developer Guide, Encryption at rest). CDK's SqsSendMessage task and grant_publish write "
    "that as kms:GenerateDataKey*, which adds only the WithoutPlaintext and key-pair variants, and "
    "offer no option to narrow it; the statement names this workflow's queue key and the events "
    "topic's key only."
)


class OrderWorkflow(Construct):
    """The saga state machine, its starter queue and function, and its alarms.

    `payment_function` reads the token of `order.paymentTokenRef` from `payment_tokens` (table
    name in PAYMENT_TOKENS_TABLE, set here when it is a `lambda_.Function`; an imported function
    must have it already) and is granted GetItem and DeleteItem on it.

    Attributes:
        profile: the profile the workflow was built with.
        step_retry: the retry policy of the forward steps.
        compensation_retry: the retry policy of the compensations.
        inventory_table: one item per SKU (`sku`, `available`, `reservations`); yours or new.
        orders_table: each order's outcome by `orderId`; yours or new.
        payment_tokens: the vault the starter seals payment tokens in (key `ref`), read only by
            payment_function; yours or new (its own customer-managed key, TTL `expiresAt`).
        queue_key: the key of the workflow's queues.
        dead_letter_queue: orders a person has to finish (a compensation or a final step kept
            failing).
        events_topic: where OrderCompleted is published; yours or new.
        event_bus: where OrderCompleted is also put (an EventBridge PutEvents step); None unless
            given.
        alarm_topic: where the alarms notify; yours or new.
        log_group: the state machine's execution log (without execution data).
        state_machine: the saga (Standard).
        starter: the QueueStarter: its queue, dead-letter queue and function.
        orders_queue: send orders here (the starter's queue).
        alarms: failed, timed-out and throttled executions, and every dead-letter queue.
    """

    profile: Profile
    step_retry: RetryPolicy
    compensation_retry: RetryPolicy
    inventory_table: dynamodb.ITable
    orders_table: dynamodb.ITable
    payment_tokens: dynamodb.ITable
    queue_key: kms.Key
    dead_letter_queue: sqs.Queue
    events_topic: sns.ITopic
    event_bus: events.IEventBus | None
    alarm_topic: sns.ITopic
    log_group: logs.LogGroup
    state_machine: sfn.StateMachine
    starter: QueueStarter
    orders_queue: sqs.Queue
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        payment_function: lambda_.IFunction,
        refund_function: lambda_.IFunction,
        shipment_function: lambda_.IFunction,
        events_topic: sns.ITopic | None = None,
        event_bus: events.IEventBus | None = None,
        inventory_table: dynamodb.ITable | None = None,
        orders_table: dynamodb.ITable | None = None,
        payment_tokens: dynamodb.ITable | None = None,
        alarm_topic: sns.ITopic | None = None,
        task_timeout: Duration = Duration.seconds(30),
        execution_timeout: Duration = Duration.hours(1),
        step_retry: RetryPolicy | None = None,
        compensation_retry: RetryPolicy | None = None,
        reservation_concurrency: int = 10,
        profile: Profile | None = None,
    ) -> None:
        """Build the saga, its tables (unless given), starter, dead-letter queue and alarms.

        Args:
            payment_function: takes the payment (`payment.charge` in the demo); raises
                PaymentDeclined to decline, ProviderUnavailable for a transient failure.
            refund_function: refunds an order's payment; idempotent, refunds nothing when
                nothing was charged.
            shipment_function: arranges the shipment (the pivot: after it, no undoing).
            events_topic: where OrderCompleted goes; default a new encrypted topic.
            event_bus: an EventBridge bus OrderCompleted is also put on, after the topic
                publish, for rules to route by content; default none.
            inventory_table: an existing inventory table, partition key `sku` (string), no sort
                key; default a new table.
            orders_table: an existing orders table, partition key `orderId` (string), no sort
                key; default a new table.
            payment_tokens: an existing vault, partition key `ref` (string), no sort key, TTL on
                `expiresAt`; default a new table with a key of its own.
            alarm_topic: where the alarms go; default a new encrypted topic.
            task_timeout: each Lambda step's timeout, whole seconds, at least 1 s and at least
                each function's own timeout; default 30 s.
            execution_timeout: the whole saga's, whole seconds, longer than task_timeout;
                default 1 hour.
            step_retry: a RetryPolicy (from this package: `from <package>.order_workflow
                import RetryPolicy`) for the forward steps; default 4 attempts from 1 s, at
                most 20 s apart.
            compensation_retry: a RetryPolicy for the compensations; default 8 attempts from
                2 s, at most 2 minutes apart.
            reservation_concurrency: order lines reserved in parallel, 1-40; default 10.
            profile: sandbox or production; default the `profile` context value.
        """
        super().__init__(scope, construct_id)
        for prop, value in (
            ("payment_function", payment_function),
            ("refund_function", refund_function),
            ("shipment_function", shipment_function),
        ):
            expect(prop, value, lambda_.IFunction)
        expect("events_topic", events_topic, sns.ITopic, optional=True)
        expect("event_bus", event_bus, events.IEventBus, optional=True)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        for prop, table, key in (
            ("inventory_table", inventory_table, "sku"),
            ("orders_table", orders_table, "orderId"),
            ("payment_tokens", payment_tokens, "ref"),
        ):
            expect(prop, table, dynamodb.ITable, optional=True)
            check_key_schema(prop, table, key)
        expect("step_retry", step_retry, RetryPolicy, optional=True)
        expect("compensation_retry", compensation_retry, RetryPolicy, optional=True)
        expect("reservation_concurrency", reservation_concurrency, int)
        expect("profile", profile, Profile, optional=True)
        self.profile = profile or profile_of(self)
        self.step_retry = step_retry or RetryPolicy(
            max_attempts=4, interval=Duration.seconds(1), max_delay=Duration.seconds(20)
        )
        self.compensation_retry = compensation_retry or RetryPolicy(
            max_attempts=8, interval=Duration.seconds(2), max_delay=Duration.minutes(2)
        )
        self.step_retry.validate("step_retry")
        self.compensation_retry.validate("compensation_retry")
        _check_timeouts(task_timeout, execution_timeout, payment_function, refund_function, shipment_function)
        if not 1 <= reservation_concurrency <= 40:
            raise ValueError(f"reservation_concurrency: must be 1 to 40, got {reservation_concurrency}")
        self._task_timeout = task_timeout
        self._reservation_concurrency = reservation_concurrency

        self.inventory_table = inventory_table or on_demand_table(
            self, "Inventory", profile=self.profile, partition_key="sku"
        )
        self.orders_table = orders_table or on_demand_table(
            self, "Orders", profile=self.profile, partition_key="orderId"
        )
        # The tables it made hold the orders and stock: AWS Backup keeps them. Not the payment-
        # token vault: its tokens are deleted after use and must not live on in backups.
        for made, table in ((inventory_table, self.inventory_table), (orders_table, self.orders_table)):
            if made is None:
                mark_for_backup(table)
        self.payment_tokens = payment_tokens or self._vault()
        self._grant_vault(payment_function)
        self.queue_key = encryption_key(
            self, "QueueKey", profile=self.profile, description=f"Encrypts {self.node.path} queues"
        )
        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", key=self.queue_key, profile=self.profile
        )
        acknowledge(self.dead_letter_queue, "AwsSolutions-SQS3", DLQ_REASON)
        if events_topic is None:
            topic_key = encryption_key(
                self, "TopicKey", profile=self.profile, description=f"Encrypts {self.node.path} events"
            )
            events_topic = sns.Topic(self, "Events", master_key=topic_key, enforce_ssl=True)
        self.events_topic: sns.ITopic = events_topic
        # Where OrderCompleted also goes, for EventBridge's content-based routing (optional).
        self.event_bus: events.IEventBus | None = event_bus
        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(
            self, "AlarmTopic", profile=self.profile
        )

        self.log_group = log_group(self, "ExecutionLogs", profile=self.profile)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(
                self._definition(payment_function, refund_function, shipment_function)
            ),
            timeout=execution_timeout,
            tracing_enabled=True,
            # Every event, without execution data: the states' input and output hold the customer's
            # details, which the log must not keep (see docs/order-workflow.md, "What is logged").
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        # The SNS task grants sns:Publish only; an encrypted topic also needs its key, which
        # grant_publish adds (kms:Decrypt, kms:GenerateDataKey* on the topic's key).
        self.events_topic.grant_publish(self.state_machine)
        # The ForgetPaymentToken step's DeleteItem (granted by the task) on the vault's key.
        if (vault_key := self.payment_tokens.encryption_key) is not None:
            vault_key.grant(self.state_machine, *VAULT_KEY_ACTIONS)
        self._acknowledge_findings(payment_function, refund_function, shipment_function)
        self.starter = QueueStarter(
            self,
            "Starter",
            state_machine=self.state_machine,
            key=self.queue_key,
            alarm_topic=self.alarm_topic,
            profile=self.profile,
            sealed_field=SEALED_FIELD,
            vault=self.payment_tokens,
            sealed_ttl=Duration.seconds(execution_timeout.to_seconds() + SEALED_TTL_MARGIN.to_seconds()),
        )
        self.orders_queue = self.starter.queue
        self.alarms: list[cloudwatch.Alarm] = list(self.starter.alarms)
        self._alarms()

    # The payment-token vault -----------------------------------------------------------------

    def _vault(self) -> dynamodb.Table:
        """A table of its own with a key of its own: only the starter (PutItem), the payment
        function (GetItem, DeleteItem) and the state machine (DeleteItem) may use either.
        Point-in-time recovery keeps one day, the shortest period, so deleted tokens do not
        live on in backups. `Table`, not `TableV2`: TableV2 cannot render a customer-managed key
        in a region-agnostic stack."""
        key = encryption_key(
            self,
            "PaymentTokensKey",
            profile=self.profile,
            description=f"Encrypts {self.node.path} payment tokens",
        )
        return dynamodb.Table(
            self,
            "PaymentTokens",
            partition_key=dynamodb.Attribute(name="ref", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute="expiresAt",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True, recovery_period_in_days=1
            ),
            deletion_protection=self.profile.deletion_protection,
            removal_policy=self.profile.removal_policy,
        )

    def _grant_vault(self, payment_function: lambda_.IFunction) -> None:
        self.payment_tokens.grant(payment_function, "dynamodb:GetItem", "dynamodb:DeleteItem")
        key: kms.IKey | None = self.payment_tokens.encryption_key
        if key is not None:
            key.grant(payment_function, *VAULT_KEY_ACTIONS)
        behind = function_behind(payment_function)  # an alias has no environment of its own
        if isinstance(behind, lambda_.Function):
            behind.add_environment(PAYMENT_TOKENS_ENV, self.payment_tokens.table_name)

    # The state machine -------------------------------------------------------------------------

    def _report(self, construct_id: str, problem: str, error_path: str) -> sfn.TaskStateBase:
        """A step that sends `problem`, the order id and lines and the error at `error_path` to
        the dead-letter queue."""
        return steps.report_to_dead_letter_queue(
            self,
            construct_id,
            queue=self.dead_letter_queue,
            problem=problem,
            error_path=error_path,
            retry=self.step_retry,
        )

    def _report_and_stop(
        self, construct_id: str, problem: str, error_path: str = FAILURE_PATH
    ) -> sfn.IChainable:
        return self._report(construct_id, problem, error_path).next(self._needs_attention)

    def _record(self, outcome: str, status: str, then: sfn.IChainable) -> sfn.IChainable:
        task = steps.record_status(
            self, f"RecordOrder{outcome}", table=self.orders_table, status=status, retry=self.step_retry
        )
        # Kept apart from $.failure, which holds why the order is ending this way.
        task.add_catch(
            self._report_and_stop(
                f"ReportUnrecorded{outcome}", f"{outcome}NotRecorded", error_path=RECORD_FAILURE_PATH
            ),
            result_path=RECORD_FAILURE_PATH,
        )
        return task.next(then)

    def _ending(self) -> sfn.Choice:
        """How the saga ends: a compensation that gave up needs a person; business outcomes
        decline the order; anything else fails it. Each outcome is recorded with its reason."""
        ending = sfn.Choice(self, "HowTheOrderEnds")
        gave_up = sfn.Fail(
            self,
            "CompensationFailed",
            error="CompensationFailed",
            cause="A compensation kept failing; the order and the error are in the dead-letter queue",
        )
        ending.when(
            sfn.Condition.is_present(COMPENSATION_FAILURE_PATH),
            self._record("NeedsAttention", "NEEDS_ATTENTION", gave_up),
        )
        business = [sfn.Condition.string_equals(f"{FAILURE_PATH}.Error", name) for name in BUSINESS_OUTCOMES]
        declined = self._record("Declined", "DECLINED", sfn.Succeed(self, "OrderDeclined"))
        ending.when(sfn.Condition.or_(*business), declined)
        failed = sfn.Fail(
            self, "OrderFailed", error_path=f"{FAILURE_PATH}.Error", cause_path=f"{FAILURE_PATH}.Cause"
        )
        return ending.otherwise(self._record("Failed", "FAILED", failed))

    def _definition(
        self, payment: lambda_.IFunction, refund: lambda_.IFunction, shipment: lambda_.IFunction
    ) -> sfn.IChainable:
        self._needs_attention = sfn.Fail(
            self,
            "OrderNeedsAttention",
            error_path="$.report.problem",
            cause="The order and the error are in the workflow's dead-letter queue",
        )
        retry, report = self.step_retry, self._report_and_stop
        ending = self._ending()
        forgetting = steps.forget_payment_token(self, vault=self.payment_tokens, retry=retry)
        forgetting.add_catch(ending, result_path="$.forgetFailure")
        forgetting.next(ending)
        releasing = steps.release_inventory(self, table=self.inventory_table)
        refunding = self._lambda_step(
            "RefundPayment", refund, {"orderId": sfn.JsonPath.string_at(steps.ORDER_ID)}
        )
        saga = CompensationChain(
            [
                Compensation(
                    releasing,
                    self._report("ReportReleaseFailed", "ReleaseInventoryFailed", COMPENSATION_FAILURE_PATH),
                ),
                Compensation(
                    refunding,
                    self._report("ReportRefundFailed", "RefundPaymentFailed", COMPENSATION_FAILURE_PATH),
                ),
            ],
            retry=self.compensation_retry,
            then=forgetting,
        )

        reserving = steps.reserve_inventory(
            self, table=self.inventory_table, retry=retry, max_concurrency=self._reservation_concurrency
        )
        saga.catch_into(reserving, undo_up_to=1, errors=[sfn.Errors.ALL])
        paying = self._lambda_step(
            "TakePayment", payment, sfn.JsonPath.object_at("$"), result=("$.payment", "chargeId")
        )
        retry.apply(paying, [*TRANSIENT_LAMBDA_ERRORS, RETRYABLE_HANDLER_ERROR])
        saga.catch_into(paying, undo_up_to=1, errors=[PAYMENT_DECLINED])
        # Any other failure may come after the charge went through (a timeout, a lost response):
        # refunding is idempotent and refunds nothing when nothing was charged.
        saga.catch_into(paying, undo_up_to=2, errors=[sfn.Errors.ALL])
        shipping = self._lambda_step(
            "ArrangeShipment", shipment, sfn.JsonPath.object_at("$"), result=("$.shipment", "shipmentId")
        )
        retry.apply(shipping, [*TRANSIENT_LAMBDA_ERRORS, RETRYABLE_HANDLER_ERROR])
        saga.catch_into(shipping, undo_up_to=2, errors=[sfn.Errors.ALL])

        committing = steps.commit_inventory(self, table=self.inventory_table, retry=retry)
        committing.add_catch(
            report("ReportUncommittedInventory", "InventoryNotCommitted"), result_path=FAILURE_PATH
        )
        completed = steps.record_status(
            self, "RecordOrderCompleted", table=self.orders_table, status="COMPLETED", retry=retry
        )
        completed.add_catch(
            report("ReportUnrecordedCompletion", "CompletionNotRecorded"), result_path=FAILURE_PATH
        )
        publishing = steps.publish_order_completed(self, topic=self.events_topic, retry=retry)
        publishing.add_catch(
            report("ReportUnpublishedCompletion", "CompletionNotPublished"), result_path=FAILURE_PATH
        )

        announced: sfn.IChainable = publishing
        if self.event_bus is not None:
            putting = steps.put_order_completed_event(self, event_bus=self.event_bus, retry=retry)
            putting.add_catch(
                report("ReportUnputCompletionEvent", "CompletionEventNotPut"), result_path=FAILURE_PATH
            )
            announced = publishing.next(putting)

        validate = sfn.Choice(self, "ValidateOrder")
        invalid = sfn.Fail(self, "InvalidOrder", error=steps.INVALID_ORDER, cause="The order is malformed")
        forward = (
            reserving.next(paying)
            .next(shipping)
            .next(committing)
            .next(completed)
            .next(announced)
            .next(sfn.Succeed(self, "OrderCompleted"))
        )
        return validate.when(_valid_order(), forward).otherwise(invalid)

    def _lambda_step(
        self,
        construct_id: str,
        function: lambda_.IFunction,
        payload: object,
        result: tuple[str, str] | None = None,
    ) -> tasks.LambdaInvoke:
        """A Lambda step without CDK's default retry (no jitter, no throttling: aws/aws-cdk#26470);
        the caller adds the retry policy."""
        return tasks.LambdaInvoke(
            self,
            construct_id,
            lambda_function=function,
            payload=sfn.TaskInput.from_object({"order": payload}),
            retry_on_service_exceptions=False,
            task_timeout=sfn.Timeout.duration(self._task_timeout),
            result_selector={result[1]: sfn.JsonPath.string_at(f"$.Payload.{result[1]}")} if result else None,
            result_path=result[0] if result else sfn.JsonPath.DISCARD,
        )

    def _acknowledge_findings(
        self, payment: lambda_.IFunction, refund: lambda_.IFunction, shipment: lambda_.IFunction
    ) -> None:
        policy = self.state_machine.role.node.find_child("DefaultPolicy")
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", LOG_DELIVERY_REASON)
        acknowledge(policy, "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", KMS_GRANT_REASON)
        for step, function in (
            ("TakePayment", payment),
            ("RefundPayment", refund),
            ("ArrangeShipment", shipment),
        ):
            finding = f"AwsSolutions-IAM5[Resource::{_nag_arn(function)}:*]"
            acknowledge(policy, finding, lambda_invoke_reason(step, function))
            acknowledge(function, "Serverless-LambdaDLQ", STEP_FUNCTION_DLQ_REASON)

    # Alarms -----------------------------------------------------------------------------------

    def _alarms(self) -> None:
        minute = Duration.minutes(1)
        machine = self.state_machine
        for alarm_id, description, metric in (
            ("ExecutionsFailed", "An order execution failed", machine.metric_failed(period=minute)),
            ("ExecutionsTimedOut", "An order execution timed out", machine.metric_timed_out(period=minute)),
            (
                "ExecutionsThrottled",
                "Starting executions was throttled",
                machine.metric_throttled(period=minute),
            ),
            (
                "DeadLetterQueueNotEmpty",
                "An order a person has to finish is in the workflow's dead-letter queue",
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=minute, statistic="Maximum"
                ),
            ),
        ):
            self.alarms.append(
                alarm_on_any(self, alarm_id, description=description, metric=metric, topic=self.alarm_topic)
            )


def _valid_order() -> sfn.Condition:
    c = sfn.Condition
    return c.and_(
        c.is_string("$.orderId"),
        c.is_string("$.customerId"),
        c.is_present("$.items[0]"),
        c.is_numeric("$.total"),
        c.number_greater_than("$.total", 0),
        # The token itself never enters the state: the starter seals it and passes its reference.
        c.is_string("$.paymentTokenRef"),
        c.is_not_present(f"$.{SEALED_FIELD}"),
        c.is_boolean("$.requiresShipping"),
    )


def _check_timeouts(
    task_timeout: Duration, execution_timeout: Duration, *functions: lambda_.IFunction
) -> None:
    whole_seconds("task_timeout", task_timeout, low=1)
    whole_seconds("execution_timeout", execution_timeout, low=1)
    for function in functions:
        timeout = getattr(function, "timeout", None)
        if isinstance(timeout, Duration) and timeout.to_seconds() > task_timeout.to_seconds():
            raise ValueError(
                f"task_timeout: {int(task_timeout.to_seconds())} s is shorter than the timeout of "
                f"{function.node.path} ({int(timeout.to_seconds())} s); the step would give up on a "
                "call that is still running"
            )
    if execution_timeout.to_seconds() <= task_timeout.to_seconds():
        raise ValueError("execution_timeout: must be longer than task_timeout")


def check_key_schema(prop: str, table: dynamodb.ITable | None, partition_key: str) -> None:
    """Refuse a table of this app whose key is not what the definition reads and writes: a
    string partition key named `partition_key` and no sort key (every step addresses one item
    by that key alone; DynamoDB refuses a key without the sort key: ValidationException). An
    imported table's schema cannot be seen at synth: it must be right."""
    cfn = table.node.default_child if table is not None else None
    if table is None or not isinstance(cfn, (dynamodb.CfnTable, dynamodb.CfnGlobalTable)):
        return
    stack = Stack.of(table)
    keys = {key["keyType"]: key["attributeName"] for key in stack.resolve(cfn.key_schema)}
    types = {a["attributeName"]: a["attributeType"] for a in stack.resolve(cfn.attribute_definitions)}
    found = ", ".join(f"{name} ({types.get(name, '?')}, {kind})" for kind, name in sorted(keys.items()))
    if keys != {"HASH": partition_key} or types.get(partition_key) != "S":
        raise PropError(
            prop,
            f"the workflow reads and writes items by a string partition key {partition_key!r} "
            f"and no sort key; this table's key is {found}",
        )


def _nag_arn(function: lambda_.IFunction) -> str:
    """How cdk-nag names a function's ARN in a finding id: `<LogicalId.Arn>` for a function of
    this app, the ARN itself for an imported one."""
    arn = Stack.of(function).resolve(function.function_arn)
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        return f"<{arn['Fn::GetAtt'][0]}.Arn>"
    return str(arn)
