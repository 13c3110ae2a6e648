"""Starting a Step Functions execution per message of an SQS queue, once per business key.

The queue buffers what arrives while Step Functions throttles or a deployment is under way. The
starter function names each execution after a field of the message (the order id), so a message
delivered twice starts one execution; a different message reusing an id is refused (it reads the
existing execution's input, hence its `states:DescribeExecution` on the machine's executions).
Records it cannot start are reported one by one (partial batch failures) and, after
`max_receive_count` receives, moved to the queue's dead-letter queue, which alarms.

With `sealed_field` and `vault`, the starter takes that field (a secret such as a payment token)
out of each message, writes it to the vault table (PutItem and ConditionCheckItem only: the
starter cannot read it back) under the execution's name with a TTL, beside its fingerprint, and
starts the execution with `<field>Ref` instead, so the secret never reaches the execution's
input, history or logs.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, Names, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ..shared.defaults import (
    AT_LEAST,
    DLQ_REASON,
    Profile,
    acknowledge,
    dead_letter_queue,
    notifying_alarm,
    secure_queue,
)
from ..shared.nag_findings import wildcard_resource
from ..shared.props import expect, whole_seconds, within
from ..shared.python_function import PythonFunction

CODE_DIR = Path(__file__).resolve().parent / "starter_function"
FUNCTION_TIMEOUT = Duration.seconds(30)
VISIBILITY_TO_TIMEOUT = 6  # AWS: a queue's visibility timeout >= 6 x its Lambda consumer's timeout

STARTER_DLQ_REASON = (
    "The starter is invoked synchronously by an SQS event source; failed messages return to the "
    "queue and its redrive policy moves them to the queue's dead-letter queue."
)
STARTER_DESCRIBE_REASON = (
    "On ExecutionAlreadyExists the starter reads the input of the execution named after the "
    "message, to tell a redelivered order from a different order reusing its id; execution "
    "names are not known at deployment, so the grant covers this one state machine's executions."
)
VAULT_WRITE_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
"""What writing an item into a table encrypted with a customer-managed key needs of the caller:
DynamoDB encrypts items with the table key, which it decrypts with the caller's kms:Decrypt and
caches per principal (AWS KMS Developer Guide, "How Amazon DynamoDB uses AWS KMS", "Table key").
CDK's grant_write_data would add kms:Encrypt, kms:ReEncrypt* and kms:GenerateDataKey*, which an
item write never uses."""
STARTER_MAPPING_REASON = (
    "SQS event source mappings take no on-failure destination; the queue's redrive policy sends "
    "a message to its dead-letter queue after max_receive_count failed receives."
)


def alarm_on_any(
    scope: Construct, alarm_id: str, *, description: str, metric: cloudwatch.IMetric, topic: sns.ITopic
) -> cloudwatch.Alarm:
    """An alarm that fires on the first datapoint >= 1, notifying `topic`."""
    return notifying_alarm(
        scope,
        alarm_id,
        metric,
        topic=topic,
        threshold=1,
        comparison=AT_LEAST,
        evaluation_periods=1,
        description=description,
    )


class QueueStarter(Construct):
    """An encrypted queue whose messages (JSON objects) each start one execution of
    `state_machine`, named after the message's `name_field`.

    Attributes:
        function: the starter (a PythonFunction).
        dead_letter_queue: messages the starter could not start after max_receive_count
            receives (alarmed on).
        queue: send the messages here.
        alarms: the dead-letter queue's alarm.
    """

    function: PythonFunction
    dead_letter_queue: sqs.Queue
    queue: sqs.Queue
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        key: kms.IKey,
        alarm_topic: sns.ITopic,
        profile: Profile,
        name_field: str = "orderId",
        max_receive_count: int = 5,
        batch_size: int = 10,
        sealed_field: str | None = None,
        vault: dynamodb.ITable | None = None,
        sealed_ttl: Duration = Duration.days(1),
    ) -> None:
        """Build the queue, its dead-letter queue, the starter function and its alarm.

        Args:
            state_machine: the state machine each message starts.
            key: the key the queues are encrypted with.
            alarm_topic: where the dead-letter queue's alarm goes.
            profile: sandbox or production.
            name_field: the message field that names the execution (one execution per value).
            max_receive_count: receives before a message moves to the dead-letter queue, 1-1000.
            batch_size: messages per starter invocation, 1-10.
            sealed_field: a secret field taken out of each message and sealed in `vault`; the
                execution gets `<field>Ref` instead. Given together with vault, or neither.
            vault: the table the sealed field is written to (PutItem only).
            sealed_ttl: how long a sealed value lives in the vault, at least 1 minute.
        """
        super().__init__(scope, construct_id)
        expect("state_machine", state_machine, sfn.IStateMachine)
        expect("key", key, kms.IKey)
        expect("alarm_topic", alarm_topic, sns.ITopic)
        expect("name_field", name_field, str)
        expect("max_receive_count", max_receive_count, int)
        within("max_receive_count", max_receive_count, 1, 1000)
        expect("vault", vault, dynamodb.ITable, optional=True)
        whole_seconds("sealed_ttl", sealed_ttl, low=60)
        if not name_field.strip():
            raise ValueError("name_field: must name the message field that identifies an execution")
        if (sealed_field is None) != (vault is None):
            raise ValueError(
                "sealed_field: give it together with vault (the table it is sealed in), or neither"
            )
        if sealed_field is not None and (not sealed_field.strip() or sealed_field == name_field):
            raise ValueError("sealed_field: must name a message field other than name_field")
        if sealed_ttl.to_seconds() < 60:
            raise ValueError("sealed_ttl: must be at least one minute")
        sealing = (
            {
                "SEALED_FIELD": sealed_field,
                "VAULT_TABLE": vault.table_name,
                "SEALED_TTL_SECONDS": str(int(sealed_ttl.to_seconds())),
            }
            if sealed_field is not None and vault is not None
            else {}
        )
        if not 1 <= batch_size <= 10:
            raise ValueError(f"batch_size: must be 1 to 10 (an SQS batch without a window), got {batch_size}")
        self.function = PythonFunction(
            self,
            "Function",
            code_dir=str(CODE_DIR),
            handler="starter.handler",
            profile=profile,
            service_name="order-starter",
            timeout=FUNCTION_TIMEOUT,
            environment={
                "STATE_MACHINE_ARN": state_machine.state_machine_arn,
                "EXECUTION_NAME_FIELD": name_field,
                **sealing,
            },
        )
        state_machine.grant_start_execution(self.function.function)
        stack = Stack.of(self)
        machine_name = stack.split_arn(
            state_machine.state_machine_arn, ArnFormat.COLON_RESOURCE_NAME
        ).resource_name
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.function.function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions])
        )
        policy = self.function.role.node.find_child("DefaultPolicy")
        acknowledge(policy, wildcard_resource(policy, executions), STARTER_DESCRIBE_REASON)
        if vault is not None:
            vault.grant(self.function.function, "dynamodb:PutItem", "dynamodb:ConditionCheckItem")
            if vault.encryption_key is not None:
                vault.encryption_key.grant(self.function.function, *VAULT_WRITE_KEY_ACTIONS)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key=key, profile=profile)
        acknowledge(self.dead_letter_queue, "AwsSolutions-SQS3", DLQ_REASON)
        self.queue = secure_queue(
            self,
            "Queue",
            key=key,
            dead_letter=self.dead_letter_queue,
            max_receive_count=max_receive_count,
            visibility_timeout=Duration.seconds(VISIBILITY_TO_TIMEOUT * FUNCTION_TIMEOUT.to_seconds()),
            profile=profile,
        )
        self.function.function.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=batch_size, report_batch_item_failures=True)
        )
        mapping = self.function.function.node.find_child(
            f"SqsEventSource:{Names.node_unique_id(self.queue.node)}"
        )
        acknowledge(mapping, "Serverless-LambdaEventSourceMappingDestination", STARTER_MAPPING_REASON)
        acknowledge(self.function.function, "Serverless-LambdaDLQ", STARTER_DLQ_REASON)
        self.alarms = [
            alarm_on_any(
                self,
                "DeadLetterQueueNotEmpty",
                description=f"A message is waiting in dead-letter queue {self.dead_letter_queue.node.path}",
                metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                topic=alarm_topic,
            )
        ]
