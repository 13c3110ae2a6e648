"""A fleet of EC2 workers draining an SQS queue, sized by the queue's backlog.

The web tier only stores an upload and enqueues a job; the fleet grows when the backlog per
instance grows past what meets the acceptable latency, shrinks to nothing when the queue is
empty, and starts again from zero when a job arrives. Instances run in private subnets with no
inbound rule and no SSH key (Session Manager instead), IMDSv2 only, encrypted disks, and a role
that can consume only this queue. On scale-in a termination lifecycle hook holds the instance
until its worker has drained.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..shared.defaults import (
    Profile,
    acknowledge,
    dead_letter_queue,
    encrypted_root_volume,
    encryption_key,
    grant_send,
    log_group,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
    secure_queue,
)
from ..shared.instance_fleet import amazon_linux_for, instance_role, scaling_notification_topic
from ..shared.nag_findings import wildcard_resource
from ..shared.props import PropError, expect, whole_seconds, within
from ..shared.vpc import worker_vpc
from .boot import worker_user_data
from .scaling import (
    backlog_per_instance_policy,
    backlog_target,
    group_metric,
    scale_out_of_zero,
)

DEFAULT_INSTANCE_TYPE = ec2.InstanceType("t4g.small")  # Graviton: cheaper per unit of work
LIFECYCLE_HOOK_NAME = "drain-workers"
DEFAULT_VISIBILITY = Duration.minutes(2)  # the worker extends it while a job runs
DEFAULT_MAX_RECEIVE_COUNT = 5
DEFAULT_RETENTION = Duration.days(4)  # SQS's own default
MAX_RECEIVE_COUNT = 1000  # SQS redrive policy: maxReceiveCount is 1 to 1,000
MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS: a visibility timeout is 0 s to 12 hours
MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS = 60, 14 * 86_400  # SQS: 1 minute to 14 days
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_HOOK_TIMEOUT = Duration.hours(2)  # the longest a termination lifecycle hook may wait
LIFECYCLE_REASON = (
    "An Auto Scaling group ARN embeds a UUID CloudFormation does not expose; the statement is "
    "scoped to this one group by name and to CompleteLifecycleAction only."
)
READ_PREFIX_REASON = (
    "Workers read objects under this one prefix of the bucket, the inputs their jobs name; the "
    "wildcard is the object key below the prefix, known only when a job arrives."
)
WRITE_PREFIX_REASON = (
    "Workers read and write objects under this one prefix of the bucket, the results of their "
    "jobs; the wildcard is the object key below the prefix, known only when a job arrives."
)


class WorkerFleet(Construct):
    """Workers in an Auto Scaling group consuming a job queue (a new one, or yours).

    Attributes:
        queue: The job queue the workers consume (the new one, or `queue`).
        dead_letter_queue: Where a job goes after `max_receive_count` receives, or at once when
            the worker finds it can never succeed.
        queue_key: The KMS key of the job queue (new, `queue_key`, or the existing queue's; None
            for an existing queue without a customer-managed key).
        vpc: The VPC the instances run in (new, or `vpc`).
        security_group: The instances' security group: no inbound rule, outbound HTTPS only.
        role: The instances' role: consume the queue, send to its DLQ, own logs and code.
        launch_template: The instances' launch template (IMDSv2 only, encrypted root volume).
        auto_scaling_group: The fleet.
        lifecycle_hook: Holds a terminating instance until its worker has drained.
        backlog_target: Jobs one instance may have waiting: latency / processing time.
        backlog_policy: The target tracking policy on backlog per instance (L1).
        scale_out_of_zero: The step scaling action that starts the first instance.
        notification_topic: The group's launch and termination notices.
        alarm_topic: Where the alarms go (new, or `alarm_topic`).
        alarms: Every alarm the fleet owns: out of zero (scaling), a job in the DLQ, the oldest
            job over `acceptable_latency`, the fleet at its maximum for 15 minutes.
        log_group: The workers' log group (the CloudWatch agent ships the worker's log file).
        profile: The profile the fleet was built for.
    """

    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    queue_key: kms.IKey | None
    vpc: ec2.IVpc
    security_group: ec2.SecurityGroup
    role: iam.Role
    launch_template: ec2.LaunchTemplate
    auto_scaling_group: autoscaling.AutoScalingGroup
    lifecycle_hook: autoscaling.LifecycleHook
    backlog_target: float
    backlog_policy: autoscaling.CfnScalingPolicy
    scale_out_of_zero: autoscaling.StepScalingAction
    notification_topic: sns.Topic
    alarm_topic: sns.ITopic
    alarms: list[cloudwatch.Alarm]
    log_group: logs.LogGroup
    profile: Profile

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        worker_code: str,
        worker_command: str,
        acceptable_latency: Duration,
        average_processing_time: Duration,
        worker_environment: Mapping[str, str] | None = None,
        concurrency_per_instance: int = 4,
        queue: sqs.IQueue | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        queue_key: kms.IKey | None = None,
        max_receive_count: int | None = None,
        visibility_timeout: Duration | None = None,
        retention_period: Duration | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        instance_type: ec2.InstanceType = DEFAULT_INSTANCE_TYPE,
        machine_image: ec2.IMachineImage | None = None,
        min_capacity: int = 0,
        max_capacity: int = 4,
        drain_timeout: Duration = Duration.minutes(5),
        alarm_topic: sns.ITopic | None = None,
        profile: Profile | None = None,
    ) -> None:
        """Build the fleet, its queue (unless given), its VPC (unless given) and its alarms.

        Args:
            worker_code: Folder with the worker code, shipped as an S3 asset and unzipped into
                `/opt/worker` on every instance.
            worker_command: Command systemd runs from that folder (one line); it must drain on
                SIGTERM.
            acceptable_latency: How long a job may wait; with `average_processing_time` it sets
                the backlog target, and it is the oldest-job alarm's threshold.
            average_processing_time: Time one instance spends per job (a job's duration divided
                by `concurrency_per_instance`).
            worker_environment: Extra variables for the worker; names must be valid variable
                names, and those the construct sets (`AWS_REGION`, `AWS_DEFAULT_REGION`,
                `QUEUE_URL`, `DEAD_LETTER_QUEUE_URL`, `CONCURRENCY`,
                `VISIBILITY_TIMEOUT_SECONDS`, `DRAIN_SECONDS`, `LIFECYCLE_HOOK_NAME`) are
                refused. Default: none.
            concurrency_per_instance: Jobs one worker runs at a time. Default: 4.
            queue: Your job queue; it keeps its own redrive policy, key and settings, so
                `queue_key`, `max_receive_count` and `retention_period` are refused with it.
                Default: a new queue with its own DLQ.
            dead_letter_queue: Only with `queue`: its DLQ, when the construct cannot see it (an
                imported queue). Default: the queue's own.
            queue_key: Your KMS key for the new job queue and its DLQ (refused with `queue`).
                Default: a new customer-managed key with rotation.
            max_receive_count: Receives before a job moves to the DLQ (new queue only), 1 to
                1,000. Default: 5.
            visibility_timeout: How long a received job stays invisible between the worker's
                heartbeats (it extends it every third), whole seconds from 1 s to 12 hours.
                Default: 2 minutes.
            retention_period: How long a job may wait in the new queue before SQS drops it,
                1 minute to 14 days (new queue only). Default: 4 days.
            vpc: Your VPC; the workers go into its private subnets with egress. Default: a new
                VPC over 2 AZs with NAT.
            vpc_subnets: Where the instances go. Default: the VPC's private subnets with egress.
            instance_type: The workers' instance type. Default: `t4g.small` (Graviton).
            machine_image: The workers' image (it needs `python3-boto3`, `unzip` and the
                CloudWatch agent through `dnf`). Default: Amazon Linux 2023 for the instance
                type's CPU architecture.
            min_capacity: Fewest instances, 0 or more. Default: 0 (the fleet disappears when idle).
            max_capacity: Most instances, at least 1 and at least `min_capacity`. Default: 4.
            drain_timeout: How long running jobs may finish on scale-in before they go back to
                the queue, 30 seconds to 1 hour 59 minutes. Default: 5 minutes.
            alarm_topic: Your topic for the alarms. Default: a new encrypted topic (to which
                `-c alarm_email=...` is subscribed).
            profile: `SANDBOX` or `PRODUCTION`. Default: the `profile` context value.
        """
        super().__init__(scope, construct_id)
        _check_props(
            worker_code=worker_code,
            worker_command=worker_command,
            acceptable_latency=acceptable_latency,
            average_processing_time=average_processing_time,
            worker_environment=worker_environment,
            queue=queue,
            dead_letter_queue=dead_letter_queue,
            queue_key=queue_key,
            max_receive_count=max_receive_count,
            visibility_timeout=visibility_timeout,
            retention_period=retention_period,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            instance_type=instance_type,
            machine_image=machine_image,
            drain_timeout=drain_timeout,
            alarm_topic=alarm_topic,
            profile=profile,
        )
        _check_capacity(min_capacity, max_capacity, concurrency_per_instance)
        self.backlog_target = backlog_target(acceptable_latency, average_processing_time)
        self.profile = profile or profile_of(self)
        self._acceptable_latency = acceptable_latency
        self._max_capacity = max_capacity
        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(
            self, "AlarmTopic", profile=self.profile
        )

        self.queue, self.dead_letter_queue = self._job_queue(
            queue, dead_letter_queue, queue_key, max_receive_count, visibility_timeout, retention_period
        )
        self.vpc = vpc or self._new_vpc()
        subnets = vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        _check_subnets(self.vpc, subnets, given=vpc_subnets is not None)
        self.log_group = log_group(self, "WorkerLogs", profile=self.profile)
        code = s3_assets.Asset(self, "WorkerCode", path=worker_code, exclude=["__pycache__", "*.pyc"])
        self.role = self._instance_role(code)
        # The worker sends a job that can never succeed straight to the DLQ (then deletes it).
        grant_send(self.dead_letter_queue, self.role)
        stop_timeout = int(drain_timeout.to_seconds()) + 30
        environment = {
            "AWS_REGION": Aws.REGION,
            "AWS_DEFAULT_REGION": Aws.REGION,
            "QUEUE_URL": self.queue.queue_url,
            "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue.queue_url,
            "CONCURRENCY": str(concurrency_per_instance),
            "VISIBILITY_TIMEOUT_SECONDS": str(int((visibility_timeout or DEFAULT_VISIBILITY).to_seconds())),
            "DRAIN_SECONDS": str(int(drain_timeout.to_seconds())),
            "LIFECYCLE_HOOK_NAME": LIFECYCLE_HOOK_NAME,
        }
        clashing = sorted(set(worker_environment or {}) & set(environment))
        if clashing:
            raise PropError("worker_environment", f"{', '.join(clashing)} are set by the construct")
        environment.update(worker_environment or {})
        user_data = worker_user_data(
            code=code,
            command=worker_command,
            environment=environment,
            log_group=self.log_group,
            stop_timeout_seconds=stop_timeout,
        )
        self.security_group = self._security_group()
        self.launch_template = self._launch_template(instance_type, machine_image, user_data)
        self.notification_topic = self._notification_topic()
        self.auto_scaling_group = autoscaling.AutoScalingGroup(
            self,
            "Workers",
            vpc=self.vpc,
            vpc_subnets=subnets,
            launch_template=self.launch_template,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            group_metrics=[autoscaling.GroupMetrics.all()],
            notifications=[autoscaling.NotificationConfiguration(topic=self.notification_topic)],
            # A new launch template version (new code, image or settings) replaces instances in
            # batches; each old one drains through the lifecycle hook first.
            update_policy=autoscaling.UpdatePolicy.rolling_update(
                max_batch_size=max(1, max_capacity // 4), min_instances_in_service=min_capacity
            ),
        )
        self.lifecycle_hook = self.auto_scaling_group.add_lifecycle_hook(
            "DrainOnScaleIn",
            lifecycle_hook_name=LIFECYCLE_HOOK_NAME,
            lifecycle_transition=autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
            heartbeat_timeout=Duration.seconds(stop_timeout + 30),  # outlasts systemd's stop timeout
            default_result=autoscaling.DefaultResult.CONTINUE,
        )
        self._allow_completing_the_lifecycle_action()
        self.backlog_policy = backlog_per_instance_policy(
            self,
            "ScaleOnBacklogPerInstance",
            group=self.auto_scaling_group,
            queue=self.queue,
            target=self.backlog_target,
            warmup=Duration.minutes(3),
        )
        self.scale_out_of_zero, out_of_zero_alarm = scale_out_of_zero(
            self, "ScaleOutOfZero", group=self.auto_scaling_group, queue=self.queue
        )
        self.alarms = [out_of_zero_alarm]
        self._add_alarms()

    def grant_read_objects(self, bucket: s3.IBucket, prefix: str) -> None:
        """Let the workers read objects under `prefix` of `bucket` (and nothing else in it)."""
        self._grant_objects(bucket, prefix, ["s3:GetObject"], ["kms:Decrypt"], READ_PREFIX_REASON)

    def grant_write_objects(self, bucket: s3.IBucket, prefix: str) -> None:
        """Let the workers read and create objects under `prefix` (results keyed by job id)."""
        self._grant_objects(
            bucket,
            prefix,
            ["s3:GetObject", "s3:PutObject"],
            ["kms:Decrypt", "kms:GenerateDataKey"],  # S3 on SSE-KMS: what GetObject/PutObject need
            WRITE_PREFIX_REASON,
        )

    def _grant_objects(
        self, bucket: s3.IBucket, prefix: str, actions: list[str], key_actions: list[str], reason: str
    ) -> None:
        if not prefix or "*" in prefix or not prefix.endswith("/"):
            raise ValueError(f"prefix: {prefix!r} must be a folder such as 'results/' (no wildcard)")
        objects = bucket.arn_for_objects(f"{prefix}*")
        self.role.add_to_policy(iam.PolicyStatement(actions=actions, resources=[objects]))
        if bucket.encryption_key is not None:
            bucket.encryption_key.grant(self.role, *key_actions)
        default_policy = self.role.node.find_child("DefaultPolicy")
        acknowledge(default_policy, wildcard_resource(self, objects), reason)

    def _instance_role(self, code: s3_assets.Asset) -> iam.Role:
        """Session Manager, consume this queue, write its own logs, read its own code."""
        role = instance_role(
            self,
            "InstanceRole",
            description=f"Workers of {self.node.path}: consume one queue, Session Manager, own logs",
        )
        self.queue.grant_consume_messages(role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self.log_group.log_group_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[code.bucket.arn_for_objects(code.s3_object_key)]
            )
        )
        return role

    def _security_group(self) -> ec2.SecurityGroup:
        group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=self.vpc,
            description="Workers: no inbound rule; outbound HTTPS to AWS APIs and package repositories",
            allow_all_outbound=False,
        )
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs")
        return group

    def _launch_template(
        self,
        instance_type: ec2.InstanceType,
        machine_image: ec2.IMachineImage | None,
        user_data: ec2.UserData,
    ) -> ec2.LaunchTemplate:
        return ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            instance_type=instance_type,
            machine_image=machine_image or amazon_linux_for(instance_type),
            role=self.role,
            security_group=self.security_group,
            user_data=user_data,
            require_imdsv2=True,
            http_tokens=ec2.LaunchTemplateHttpTokens.REQUIRED,
            http_put_response_hop_limit=1,
            instance_metadata_tags=True,  # the worker reads its group's name from IMDS
            detailed_monitoring=True,
            block_devices=[encrypted_root_volume()],
        )

    def _job_queue(
        self,
        queue: sqs.IQueue | None,
        dead_letter: sqs.IQueue | None,
        queue_key: kms.IKey | None,
        max_receive_count: int | None,
        visibility_timeout: Duration | None,
        retention_period: Duration | None,
    ) -> tuple[sqs.IQueue, sqs.IQueue]:
        if queue is None:
            self.queue_key = queue_key or encryption_key(
                self, "QueueKey", profile=self.profile, description=f"Encrypts {self.node.path} jobs"
            )
            dlq = dead_letter_queue(self, "DeadLetterQueue", key=self.queue_key, profile=self.profile)
            return secure_queue(
                self,
                "JobQueue",
                key=self.queue_key,
                dead_letter=dlq,
                max_receive_count=DEFAULT_MAX_RECEIVE_COUNT
                if max_receive_count is None
                else max_receive_count,
                visibility_timeout=visibility_timeout or DEFAULT_VISIBILITY,
                retention_period=retention_period or DEFAULT_RETENTION,
                profile=self.profile,
            ), dlq
        self.queue_key = queue.encryption_master_key
        own = getattr(queue, "dead_letter_queue", None)
        found = dead_letter or (own.queue if isinstance(own, sqs.DeadLetterQueue) else None)
        if found is None:
            raise PropError(
                "dead_letter_queue",
                "the existing queue has no dead-letter queue this construct can see; pass it, so "
                "failed jobs are kept and alarmed on",
            )
        return queue, found

    def _new_vpc(self) -> ec2.IVpc:
        """Two AZs, private subnets with egress through NAT (one gateway in sandbox, one per AZ in
        production), a free S3 gateway endpoint, and flow logs."""
        return worker_vpc(
            self,
            profile=self.profile,
            az_count=2,
            nat_gateways=2 if self.profile.multi_az else 1,
            subnets=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="Workers", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
        ).vpc

    def _notification_topic(self) -> sns.Topic:
        """Scaling notifications (launch, terminate, failures), on a topic Auto Scaling's
        service-linked role can encrypt for (the web tier's does the same)."""
        return scaling_notification_topic(self, "ScalingNotifications")

    def _allow_completing_the_lifecycle_action(self) -> None:
        group_arn = Stack.of(self).format_arn(
            service="autoscaling",
            resource="autoScalingGroup",
            resource_name=f"*:autoScalingGroupName/{self.auto_scaling_group.auto_scaling_group_name}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # A policy of its own: it names the group, and the group (through its launch template)
        # depends on the role's default policy, so a statement there would make a cycle.
        policy = iam.Policy(
            self,
            "CompleteLifecycleAction",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(actions=["autoscaling:CompleteLifecycleAction"], resources=[group_arn])
            ],
        )
        acknowledge(policy, wildcard_resource(self, group_arn), LIFECYCLE_REASON)

    def _add_alarms(self) -> None:
        latency = int(self._acceptable_latency.to_seconds())
        self._alarm(
            "DeadLetterQueueNotEmpty",
            description=f"A job failed {self.node.path}'s receive count and waits in its dead-letter queue",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self._alarm(
            "OldestJobOverLatencyTarget",
            description=f"The oldest job has waited longer than the acceptable latency ({latency} s)",
            metric=self.queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=latency,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self._alarm(
            "FleetAtMaxCapacity",
            description=f"The fleet has wanted its maximum of {self._max_capacity} instances for 15 minutes",
            metric=group_metric(self.auto_scaling_group, "GroupDesiredCapacity").with_(
                period=Duration.minutes(5)
            ),
            threshold=self._max_capacity,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=3,
        )

    def _alarm(
        self,
        alarm_id: str,
        *,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        evaluation_periods: int = 1,
    ) -> None:
        alarm = notifying_alarm(
            self,
            alarm_id,
            metric,
            topic=self.alarm_topic,
            threshold=threshold,
            comparison=comparison,
            evaluation_periods=evaluation_periods,
            description=description,
        )
        self.alarms.append(alarm)


def _check_capacity(min_capacity: int, max_capacity: int, concurrency_per_instance: int) -> None:
    for name, value in (
        ("min_capacity", min_capacity),
        ("max_capacity", max_capacity),
        ("concurrency_per_instance", concurrency_per_instance),
    ):
        expect(name, value, int)
    if min_capacity < 0:
        raise PropError("min_capacity", f"must be 0 or more, got {min_capacity}")
    if max_capacity < 1:
        raise PropError("max_capacity", f"must be at least 1, got {max_capacity}")
    if min_capacity > max_capacity:
        raise PropError("min_capacity", f"{min_capacity} is above max_capacity {max_capacity}")
    if concurrency_per_instance < 1:
        raise PropError("concurrency_per_instance", f"must be at least 1, got {concurrency_per_instance}")


def _check_props(
    *,
    worker_code: str,
    worker_command: str,
    acceptable_latency: Duration,
    average_processing_time: Duration,
    worker_environment: Mapping[str, str] | None,
    queue: sqs.IQueue | None,
    dead_letter_queue: sqs.IQueue | None,
    queue_key: kms.IKey | None,
    max_receive_count: int | None,
    visibility_timeout: Duration | None,
    retention_period: Duration | None,
    vpc: ec2.IVpc | None,
    vpc_subnets: ec2.SubnetSelection | None,
    instance_type: ec2.InstanceType,
    machine_image: ec2.IMachineImage | None,
    drain_timeout: Duration,
    alarm_topic: sns.ITopic | None,
    profile: Profile | None,
) -> None:
    expect("worker_code", worker_code, str)
    if not Path(worker_code).is_dir():
        raise PropError("worker_code", f"{worker_code!r} is not a folder")
    expect("worker_command", worker_command, str)
    if not worker_command.strip() or "\n" in worker_command:
        raise PropError("worker_command", f"must be one command line, got {worker_command!r}")
    expect("acceptable_latency", acceptable_latency, Duration)
    expect("average_processing_time", average_processing_time, Duration)
    expect("worker_environment", worker_environment, Mapping, optional=True)
    for name, value in (worker_environment or {}).items():
        if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name):
            raise PropError(
                "worker_environment",
                f"{name!r} is not a variable name (letters, digits, _; not a digit first)",
            )
        expect(f"worker_environment[{name!r}]", value, str)
    expect("queue", queue, sqs.IQueue, optional=True)
    expect("dead_letter_queue", dead_letter_queue, sqs.IQueue, optional=True)
    expect("queue_key", queue_key, kms.IKey, optional=True)
    expect("max_receive_count", max_receive_count, int, optional=True)
    expect("visibility_timeout", visibility_timeout, Duration, optional=True)
    expect("retention_period", retention_period, Duration, optional=True)
    if queue is None and dead_letter_queue is not None:
        raise PropError("dead_letter_queue", "only with an existing queue; a new one gets its own")
    if queue is not None:
        given: dict[str, object] = {
            "queue_key": queue_key,
            "max_receive_count": max_receive_count,
            "retention_period": retention_period,
        }
        for name, setting in given.items():
            if setting is not None:
                raise PropError(
                    name, "not with queue: an existing queue brings its own key, redrive and retention"
                )
    if max_receive_count is not None:
        within("max_receive_count", max_receive_count, 1, MAX_RECEIVE_COUNT)
    if visibility_timeout is not None:
        whole_seconds("visibility_timeout", visibility_timeout, low=1, high=MAX_VISIBILITY_SECONDS)
    if retention_period is not None:
        seconds = whole_seconds("retention_period", retention_period)
        if not MIN_RETENTION_SECONDS <= seconds <= MAX_RETENTION_SECONDS:
            raise PropError("retention_period", f"SQS keeps a message 1 minute to 14 days, got {seconds} s")
    expect("vpc", vpc, ec2.IVpc, optional=True)
    expect("vpc_subnets", vpc_subnets, ec2.SubnetSelection, optional=True)
    expect("instance_type", instance_type, ec2.InstanceType)
    expect("machine_image", machine_image, ec2.IMachineImage, optional=True)
    whole_seconds("drain_timeout", drain_timeout, low=30, high=int(MAX_HOOK_TIMEOUT.to_seconds()) - 60)
    expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
    expect("profile", profile, Profile, optional=True)


def _fields(selection: ec2.SubnetSelection) -> dict[str, Any]:
    """A SubnetSelection as the keyword arguments `select_subnets` takes (jsii spreads structs)."""
    return {name: getattr(selection, name) for name in selection._values}


def _check_subnets(vpc: ec2.IVpc, selection: ec2.SubnetSelection, *, given: bool) -> None:
    """The instances need subnets with a route out (AWS APIs, packages) and no public address."""
    prop = "vpc_subnets" if given else "vpc"
    try:
        chosen = vpc.select_subnets(**_fields(selection)).subnets
    except RuntimeError as error:  # CDK: "There are no 'Private' subnet groups in this VPC"
        chosen, reason = [], str(error).splitlines()[0]
    else:
        reason = "selects no subnet"
    if not chosen:
        wanted = "" if given else " with egress (PRIVATE_WITH_EGRESS), or pass vpc_subnets"
        raise PropError(prop, f"{reason}: the workers need private subnets{wanted}")
