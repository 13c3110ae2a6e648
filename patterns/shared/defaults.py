"""Secure defaults every pattern shares, in one place so a reviewer reads them once.

- Profiles: `sandbox` (cheap, `cdk destroy` leaves nothing) and `production` (keeps data).
- Encryption: customer-managed KMS keys with rotation.
- Transport: every queue and topic denies requests that are not over TLS.
- Failure: every queue has a dead-letter queue; DLQs keep messages for the maximum 14 days;
  production retains queues (a DLQ's messages are the evidence of what failed).
- Grants: sending to an encrypted queue gets exactly kms:GenerateDataKey and kms:Decrypt.
- Logs: explicit log groups with the profile's retention and removal policy, encrypted with one
  customer-managed key per stack that CloudWatch Logs may use only for this account's groups.
- Alarms: each notifies a topic; no data (an idle system) is not a breach; `-c alarm_email=...`
  subscribes a person to a stack's alarm topic.
- Instances: encrypted root volumes, deleted with the instance.
- Acknowledgements of security findings: one finding, one construct, a real reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

PROFILE_CONTEXT_KEY = "profile"
ALARM_EMAIL_CONTEXT_KEY = "alarm_email"
EMAIL_ADDRESS = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;.]+")
LOGS_KEY_ID = "LogGroupKey"
ALARM_EMAIL_DLQ_REASON = (
    "The alarm e-mail subscription: an alarm on a dead-letter queue of undelivered alarm e-mails "
    "could only notify this same topic; the alarm's own state stays in CloudWatch."
)
MIN_ACKNOWLEDGEMENT_REASON = 40
DLQ_REASON = (
    "This queue is itself a dead-letter queue; a DLQ of a DLQ would only move the problem, and "
    "its alarm fires on the first message that arrives."
)


@dataclass(frozen=True)
class Profile:
    """How much a deployment keeps and pays for."""

    name: str
    removal_policy: RemovalPolicy
    """Applied to stateful resources: tables, keys, buckets, databases, log groups, queues."""
    log_retention: logs.RetentionDays
    deletion_protection: bool
    multi_az: bool
    """Whether data and compute tiers are spread for availability (costs more)."""

    @property
    def is_production(self) -> bool:
        return self.name == "production"


SANDBOX = Profile(
    name="sandbox",
    removal_policy=RemovalPolicy.DESTROY,
    log_retention=logs.RetentionDays.ONE_WEEK,
    deletion_protection=False,
    multi_az=False,
)
PRODUCTION = Profile(
    name="production",
    removal_policy=RemovalPolicy.RETAIN,
    log_retention=logs.RetentionDays.ONE_YEAR,
    deletion_protection=True,
    multi_az=True,
)
PROFILES: dict[str, Profile] = {p.name: p for p in (SANDBOX, PRODUCTION)}


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        valid = ", ".join(sorted(PROFILES))
        raise ValueError(f"profile: unknown profile {name!r}; valid profiles are: {valid}") from None


def profile_of(scope: IConstruct) -> Profile:
    """The profile chosen with `-c profile=...` (sandbox when none is given)."""
    name = scope.node.try_get_context(PROFILE_CONTEXT_KEY) or SANDBOX.name
    return profile_named(str(name))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on one construct (and its children), with the reason.

    `finding` is a single finding id such as `AwsSolutions-SQS3` or
    `AwsSolutions-IAM5[Resource::*]`; a whole stack or app is refused. On a Lambda alias or
    version it lands on the function behind it, where cdk-nag reports the function's findings.
    """
    if isinstance(construct, (lambda_.Alias, lambda_.Version)):
        construct = function_behind(construct)
    if isinstance(construct, (cdk.Stack, cdk.App, cdk.Stage)):
        raise ValueError(f"acknowledge: {finding} must name one construct, not a whole stack or app")
    if "*" in finding.split("[", 1)[0] or not finding.strip():
        raise ValueError(f"acknowledge: {finding!r} is not a single finding id")
    if len(reason.strip()) < MIN_ACKNOWLEDGEMENT_REASON:
        raise ValueError(
            f"acknowledge: the reason for {finding} must say why in at least "
            f"{MIN_ACKNOWLEDGEMENT_REASON} characters"
        )
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def function_behind(function: lambda_.IFunction) -> lambda_.IFunction:
    """The function an alias or version publishes (a SnapStart function's `live` alias), else
    `function` itself: what holds the environment, and what cdk-nag reports on."""
    if isinstance(function, lambda_.Alias):
        return function.version.lambda_
    if isinstance(function, lambda_.Version):
        return function.lambda_
    return function


def qualifier_of(function: lambda_.IFunction) -> str | None:
    """The alias name or version an alias or version invokes, else None ($LATEST). Lambda keeps
    an asynchronous-invocation configuration per qualifier, so the one for `live` must say
    `live`: CDK's EventInvokeConfig given an alias writes the alias's name with `$LATEST`."""
    if isinstance(function, lambda_.Alias):
        return function.alias_name
    if isinstance(function, lambda_.Version):
        return function.version
    return None


def encryption_key(
    scope: Construct,
    construct_id: str,
    *,
    profile: Profile,
    description: str,
    service_principals: tuple[str, ...] = (),
) -> kms.Key:
    """A customer-managed key with rotation, usable by the named AWS services.

    Services that write into an encrypted queue or topic on their own (SNS, CloudWatch alarms,
    EventBridge) cannot use the AWS-managed `alias/aws/sqs` key: messages they send to it vanish.
    """
    key = kms.Key(
        scope,
        construct_id,
        description=description,
        enable_key_rotation=True,
        removal_policy=profile.removal_policy,
        pending_window=Duration.days(7 if not profile.is_production else 30),
    )
    for principal in service_principals:
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Allow{principal.split('.')[0].capitalize()}ToUseTheKey",
                principals=[iam.ServicePrincipal(principal)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}},
            )
        )
    return key


def dead_letter_queue(scope: Construct, construct_id: str, *, key: kms.IKey, profile: Profile) -> sqs.Queue:
    """Where messages go when they keep failing: kept for the longest time SQS allows, and in
    production retained with the stack (its messages are the evidence of what failed)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        removal_policy=profile.removal_policy,
    )
    acknowledge(queue, "Serverless-SQSRedrivePolicy", DLQ_REASON)
    return queue


def secure_queue(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    dead_letter: sqs.IQueue,
    max_receive_count: int,
    visibility_timeout: Duration,
    profile: Profile,
    retention_period: Duration = Duration.days(4),
) -> sqs.Queue:
    """An encrypted, TLS-only queue that sends a message to `dead_letter` after N receives;
    in production retained with the stack, with the messages still waiting in it."""
    if max_receive_count < 1:
        raise ValueError(f"max_receive_count: must be at least 1, got {max_receive_count}")
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        retention_period=retention_period,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter, max_receive_count=max_receive_count),
        removal_policy=profile.removal_policy,
    )


def grant_send(queue: sqs.IQueue, grantee: iam.IGrantable) -> None:
    """Let `grantee` send to `queue`: sqs:SendMessage, and on an SSE-KMS queue exactly
    kms:GenerateDataKey and kms:Decrypt on its key, what the SQS developer guide ("Key
    management") lists for producers. CDK's grant_send_messages adds kms:Encrypt and
    kms:ReEncrypt*, which sending never uses. (CDK's grant_consume_messages already grants a
    consumer exactly what the guide lists, kms:Decrypt: use it as it is.)"""
    iam.Grant.add_to_principal_or_resource(
        grantee=grantee, actions=["sqs:SendMessage"], resource_arns=[queue.queue_arn], resource=queue
    )
    if queue.encryption_master_key is not None:
        queue.encryption_master_key.grant(grantee, "kms:GenerateDataKey", "kms:Decrypt")


def log_group(
    scope: Construct, construct_id: str, *, profile: Profile, log_group_name: str | None = None
) -> logs.LogGroup:
    """A log group that `cdk destroy` removes in sandbox and keeps in production, encrypted with
    its stack's log key (`logs_key`). `log_group_name` only where a service writes to a fixed
    name (API Gateway execution logs, a hosted rotation function's /aws/lambda/ group)."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        retention=profile.log_retention,
        removal_policy=profile.removal_policy,
        encryption_key=logs_key(scope, profile=profile),
    )


def logs_key(scope: IConstruct, *, profile: Profile) -> kms.Key:
    """The stack's one customer-managed key for its log groups.

    AWS, "Encrypt log data in CloudWatch Logs using AWS KMS": the key policy lets the regional
    CloudWatch Logs service principal use the key, and the condition on the encryption context
    (`kms:EncryptionContext:aws:logs:arn`) limits that to log groups of this account and region.
    Writers and readers of the groups need no KMS permission: CloudWatch Logs uses the key.
    """
    stack = cdk.Stack.of(scope)
    existing = stack.node.try_find_child(LOGS_KEY_ID)
    if isinstance(existing, kms.Key):
        return existing
    key = encryption_key(stack, LOGS_KEY_ID, profile=profile, description=f"Encrypts {stack.stack_name} logs")
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsOfThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],  # in a key policy, "*" means this key
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    return key


def new_alarm_topic(scope: Construct, construct_id: str, *, profile: Profile) -> sns.Topic:
    """An encrypted, TLS-only topic CloudWatch alarms can publish to. Subscribe people to it."""
    key = encryption_key(
        scope,
        f"{construct_id}Key",
        profile=profile,
        description="Encrypts alarm notifications",
        service_principals=("cloudwatch.amazonaws.com",),
    )
    topic = sns.Topic(scope, construct_id, master_key=key, enforce_ssl=True)
    route_notifications(topic)
    return topic


def route_notifications(topic: sns.Topic) -> None:
    """Make sure someone can hear a topic that alarms or Auto Scaling notify: subscribe the
    `alarm_email` address when one is given, and export the topic's ARN (as
    `<stack name>-<topic's unique id>`) so on-call tooling elsewhere can subscribe to it."""
    subscribe_alarm_email(topic)
    stack = cdk.Stack.of(topic)
    cdk.CfnOutput(
        topic,
        "Arn",
        value=topic.topic_arn,
        export_name=f"{stack.stack_name}-{cdk.Names.unique_id(topic)}",
        description="Subscribe your on-call tooling here (or deploy with -c alarm_email=...)",
    )


def alarm_email(scope: IConstruct) -> str | None:
    """The address given with `-c alarm_email=...`, checked for an e-mail's form; None if unset."""
    value = scope.node.try_get_context(ALARM_EMAIL_CONTEXT_KEY)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not EMAIL_ADDRESS.fullmatch(value.strip()):
        raise ValueError(
            f"{ALARM_EMAIL_CONTEXT_KEY}: {value!r} is not an e-mail address; "
            f"give one address, e.g. -c {ALARM_EMAIL_CONTEXT_KEY}=ops@example.com"
        )
    return value.strip()


def subscribe_alarm_email(topic: sns.ITopic) -> sns.Subscription | None:
    """Subscribe the `alarm_email` address (if given) to a stack's alarm topic.

    SNS sends the address a confirmation message first; alarms reach it once it is confirmed.
    An encrypted topic delivers to e-mail as to any endpoint: SNS decrypts before it delivers.
    """
    address = alarm_email(topic)
    if address is None:
        return None
    subscription = topic.add_subscription(subscriptions.EmailSubscription(address))
    acknowledge(subscription, "Serverless-SNSRedrivePolicy", ALARM_EMAIL_DLQ_REASON)
    return subscription


ABOVE = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
BELOW = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


def notifying_alarm(
    scope: Construct,
    alarm_id: str,
    metric: cloudwatch.IMetric,
    *,
    topic: sns.ITopic,
    threshold: float,
    description: str,
    evaluation_periods: int = 3,
    datapoints_to_alarm: int | None = None,
    comparison: cloudwatch.ComparisonOperator = ABOVE,
    missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
) -> cloudwatch.Alarm:
    """An alarm that tells `topic` when it fires; by default no data (an idle system) is not a
    breach. A metric that something must keep reporting passes `missing_data=BREACHING`."""
    alarm = cloudwatch.Alarm(
        scope,
        alarm_id,
        metric=metric,
        threshold=threshold,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        comparison_operator=comparison,
        treat_missing_data=missing_data,
        alarm_description=description,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return alarm


def encrypted_root_volume(size_gib: int = 16) -> ec2.BlockDevice:
    """The root volume of an instance: encrypted gp3, deleted with the instance."""
    return ec2.BlockDevice(
        device_name="/dev/xvda",
        volume=ec2.BlockDeviceVolume.ebs(
            size_gib, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True
        ),
    )
