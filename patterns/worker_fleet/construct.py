"""A fleet of EC2 workers draining an SQS queue, sized by the queue's backlog.

The web tier only stores an upload and enqueues a job; the fleet grows when the backlog per
instance grows past what meets the acceptable latency, shrinks to nothing when the queue is
empty, and starts again from zero when a job arrives. Instances run in private subnets with no
inbound rule and no SSH key (Session Manager instead), IMDSv2 only, encrypted disks, and a role
that can consume only this queue. On scale-in a termination lifecycle hook holds the instance
until its worker has drained.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
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
from ..shared.instance_fleet import instance_role, scaling_notification_topic
from ..shared.nag_findings import wildcard_resource
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
    """Workers in an Auto Scaling group consuming `queue` (new, or an existing one).

    Attributes: `queue`, `dead_letter_queue`, `vpc`, `security_group`, `role`, `launch_template`,
    `auto_scaling_group`, `lifecycle_hook`, `backlog_target`, `backlog_policy`,
    `scale_out_of_zero`, `notification_topic`, `alarm_topic`, `alarms`, `log_group`.
    """

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
        max_receive_count: int | None = None,
        visibility_timeout: Duration | None = None,
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
        super().__init__(scope, construct_id)
        _check_capacity(min_capacity, max_capacity, concurrency_per_instance)
        if drain_timeout.to_seconds() < 30 or drain_timeout.to_seconds() > MAX_HOOK_TIMEOUT.to_seconds() - 60:
            raise ValueError("drain_timeout: must be between 30 seconds and 1 hour 59 minutes")
        self.backlog_target = backlog_target(acceptable_latency, average_processing_time)
        self.profile = profile or profile_of(self)
        self.acceptable_latency = acceptable_latency
        self.max_capacity = max_capacity
        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(
            self, "AlarmTopic", profile=self.profile
        )

        self.queue, self.dead_letter_queue = self._job_queue(
            queue, dead_letter_queue, max_receive_count, visibility_timeout
        )
        self.vpc = vpc or self._new_vpc()
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
            raise ValueError(f"worker_environment: {', '.join(clashing)} are set by the construct")
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
            vpc_subnets=vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
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
        self.alarms: dict[str, cloudwatch.Alarm] = {"ScaleOutOfZero": out_of_zero_alarm}
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
            machine_image=machine_image or _amazon_linux_for(instance_type),
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
        max_receive_count: int | None,
        visibility_timeout: Duration | None,
    ) -> tuple[sqs.IQueue, sqs.IQueue]:
        if queue is None:
            if dead_letter is not None:
                raise ValueError("dead_letter_queue: only with an existing queue; a new one gets its own")
            self.queue_key: kms.IKey | None = encryption_key(
                self, "QueueKey", profile=self.profile, description=f"Encrypts {self.node.path} jobs"
            )
            dlq = dead_letter_queue(self, "DeadLetterQueue", key=self.queue_key, profile=self.profile)
            return secure_queue(
                self,
                "JobQueue",
                key=self.queue_key,
                dead_letter=dlq,
                max_receive_count=max_receive_count or 5,
                visibility_timeout=visibility_timeout or DEFAULT_VISIBILITY,
                profile=self.profile,
            ), dlq
        if max_receive_count is not None:
            raise ValueError("max_receive_count: an existing queue brings its own redrive policy")
        self.queue_key = queue.encryption_master_key
        own = getattr(queue, "dead_letter_queue", None)
        found = dead_letter or (own.queue if isinstance(own, sqs.DeadLetterQueue) else None)
        if found is None:
            raise ValueError(
                "dead_letter_queue: the existing queue has no dead-letter queue this construct can "
                "see; pass it, so failed jobs are kept and alarmed on"
            )
        return queue, found

    def _new_vpc(self) -> ec2.Vpc:
        """Two AZs, private subnets with egress through NAT (one gateway in sandbox, one per AZ in
        production), a free S3 gateway endpoint, and flow logs."""
        flow_logs = log_group(self, "FlowLogs", profile=self.profile)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=2 if self.profile.multi_az else 1,
            restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="Workers", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        return vpc

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
        latency = int(self.acceptable_latency.to_seconds())
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
            description=f"The fleet has wanted its maximum of {self.max_capacity} instances for 15 minutes",
            metric=group_metric(self.auto_scaling_group, "GroupDesiredCapacity").with_(
                period=Duration.minutes(5)
            ),
            threshold=self.max_capacity,
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
        self.alarms[alarm_id] = alarm


def _amazon_linux_for(instance_type: ec2.InstanceType) -> ec2.IMachineImage:
    """Amazon Linux 2023 for the instance type's CPU, resolved from a public SSM parameter at
    deploy time (no lookup at synth, so the stack stays environment-agnostic)."""
    arm = instance_type.architecture == ec2.InstanceArchitecture.ARM_64
    cpu = ec2.AmazonLinuxCpuType.ARM_64 if arm else ec2.AmazonLinuxCpuType.X86_64
    return ec2.MachineImage.latest_amazon_linux2023(cpu_type=cpu)


def _check_capacity(min_capacity: int, max_capacity: int, concurrency_per_instance: int) -> None:
    if min_capacity < 0:
        raise ValueError(f"min_capacity: must be 0 or more, got {min_capacity}")
    if max_capacity < 1:
        raise ValueError(f"max_capacity: must be at least 1, got {max_capacity}")
    if min_capacity > max_capacity:
        raise ValueError(f"min_capacity: {min_capacity} is above max_capacity {max_capacity}")
    if concurrency_per_instance < 1:
        raise ValueError(f"concurrency_per_instance: must be at least 1, got {concurrency_per_instance}")
