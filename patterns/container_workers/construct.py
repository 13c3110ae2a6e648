"""The queue worker on ECS Fargate: the worker fleet's worker in a container, one task per
unit of backlog, down to no task at all.

The same worker code as the EC2 fleet (runtime/worker_fleet: the host seam is hosts.py) runs in
an image built at deploy time from a Dockerfile in the repo. Tasks run in private subnets
without a public IP, reach AWS through VPC endpoints (no NAT gateway), as a non-root user on a
read-only root file system, with a task role that can consume only this queue and an execution
role that can pull only this image and write only this log group. On scale-in or deployment ECS
sends SIGTERM and waits the stop timeout (at most 120 s): the worker stops receiving, finishes or
releases its messages within it and exits 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..shared.backlog import backlog_target
from ..shared.defaults import (
    AT_LEAST,
    Profile,
    acknowledge,
    grant_send,
    log_group,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
)
from ..shared.job_queue import job_queue
from ..shared.nag_findings import wildcard_resource
from ..shared.props import PropError, expect, whole_seconds, within
from ..shared.vpc import LookupFreeVpc, worker_vpc
from .scaling import backlog_per_task_policy, scale_out_of_zero, service_metric

FARGATE_MAX_STOP_TIMEOUT = 120  # seconds; AWS, "Task definition parameters", stopTimeout
RELEASE_MARGIN = 15  # seconds the worker keeps after its drain to release messages and exit
DEFAULT_VISIBILITY = Duration.minutes(2)  # the worker extends it while a job runs
WORKER_USER = "10001:10001"  # the image's own non-root user (runtime/worker_fleet/Dockerfile)
# Fargate task sizes: CPU units and the memory (MiB) each allows (AWS, "Task CPU and memory").
FARGATE_SIZES = {
    256: range(512, 2049, 512),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
}
ENVIRONMENT_REASON = (
    "The container's environment holds queue URLs, a bucket name and sizes the worker reads at "
    "start; none is a secret, so none belongs in Secrets Manager."
)
OBJECTS_REASON = (
    "Workers reach objects under this one prefix of the bucket, the inputs or results their "
    "jobs name; the wildcard is the object key below the prefix, known only when a job arrives."
)
PULL_REASON = (
    "ecr:GetAuthorizationToken has no resource-level permission (it must be granted on *); the "
    "execution role's pulls (BatchGetImage, GetDownloadUrlForLayer) name this image's repository."
)


class ContainerWorkers(Construct):
    """Fargate tasks consuming `queue` (new, or an existing one), scaled on backlog per task.

    Attributes:
        queue: The job queue the tasks drain.
        dead_letter_queue: Where a job goes after its receive count, or at once when it can never succeed.
        queue_key: The job queue's KMS key (None for an existing queue without one).
        vpc: The VPC the tasks run in.
        cluster: The ECS cluster (Container Insights on when the construct creates it).
        task_definition: The Fargate task definition (one container, `worker`).
        container: The worker container.
        task_role: What the worker may do: consume the queue, send to the dead-letter queue.
        execution_role: What ECS may do for the task: pull the image, write the log group.
        service: The Fargate service (circuit breaker with rollback, no public IP).
        security_group: The tasks' security group: no inbound rule, HTTPS out.
        scalable_target: The service's Application Auto Scaling target (min and max tasks).
        backlog_target: Messages waiting or in flight one task may have: latency / processing time.
        backlog_policy: Target tracking on messages waiting or in flight per running task (L1).
        scale_out_of_zero: The step that starts the first task when a message waits.
        alarm_topic: Where the alarms notify.
        alarms: The alarms by name (ScaleOutOfZero drives scaling; the others notify).
        log_group: The worker's log group.
        image: The container image asset, built from the Dockerfile at deploy time.
    """

    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    queue_key: kms.IKey | None
    vpc: ec2.IVpc
    cluster: ecs.ICluster
    task_definition: ecs.FargateTaskDefinition
    container: ecs.ContainerDefinition
    task_role: iam.Role
    execution_role: iam.Role
    service: ecs.FargateService
    security_group: ec2.SecurityGroup
    scalable_target: appscaling.ScalableTarget
    backlog_target: float
    backlog_policy: appscaling.CfnScalingPolicy
    scale_out_of_zero: appscaling.StepScalingAction
    alarm_topic: sns.ITopic
    alarms: dict[str, cloudwatch.Alarm]
    log_group: logs.LogGroup
    image: ecs.AssetImage

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image_directory: str,
        acceptable_latency: Duration,
        average_processing_time: Duration,
        dockerfile: str = "Dockerfile",
        command: Sequence[str] | None = None,
        environment: Mapping[str, str] | None = None,
        concurrency_per_task: int = 4,
        cpu: int = 512,
        memory_limit_mib: int = 1024,
        cpu_architecture: str = "ARM64",
        spot: bool = False,
        on_demand_base: int = 1,
        queue: sqs.IQueue | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        max_receive_count: int | None = None,
        visibility_timeout: Duration | None = None,
        vpc: ec2.IVpc | None = None,
        cluster: ecs.ICluster | None = None,
        min_capacity: int = 0,
        max_capacity: int = 4,
        stop_timeout: Duration = Duration.seconds(FARGATE_MAX_STOP_TIMEOUT),
        alarm_topic: sns.ITopic | None = None,
        profile: Profile | None = None,
    ) -> None:
        """Build the service, its queue (unless given), scaling and alarms.

        Args:
            image_directory: Folder holding the Dockerfile and what it copies; built at deploy time.
            acceptable_latency: How long a job may wait in the queue; the scaling target's numerator.
            average_processing_time: Time one task spends per job; the scaling target's denominator.
            dockerfile: The Dockerfile's name inside `image_directory`. Default "Dockerfile".
            command: The container's command. Default: the image's CMD.
            environment: Extra variables for the worker; the construct's own (QUEUE_URL, ...)
                cannot be overridden.
            concurrency_per_task: Jobs one task runs at once (CONCURRENCY). Default 4.
            cpu: Task CPU units (256, 512, 1024, 2048, 4096). Default 512.
            memory_limit_mib: Task memory, within what `cpu` allows on Fargate. Default 1024.
            cpu_architecture: "ARM64" (Graviton, default: cheaper per vCPU-hour) or "X86_64" (a
                string: CDK's CpuArchitecture values cannot be compared in Python).
            spot: Run tasks beyond `on_demand_base` on Fargate Spot (4 in 5). Needs X86_64:
                Fargate Spot has no ARM64. Default off.
            on_demand_base: With `spot`, the first tasks that always run on regular Fargate. Default 1.
            queue: An existing job queue (with a dead-letter queue); default a new encrypted one.
            dead_letter_queue: The existing queue's dead-letter queue when the construct cannot see it.
            max_receive_count: Receives before a new queue's message goes to its DLQ. Default 5.
            visibility_timeout: A new queue's visibility timeout, also the worker's. Default 2 minutes.
            vpc: An existing VPC (its private subnets); default a new one with VPC endpoints and no NAT.
            cluster: An existing ECS cluster (with Container Insights on); exclusive with `vpc`.
            min_capacity: Tasks always running. Default 0 (no task, no cost, when the queue is empty).
            max_capacity: The most tasks the scaling may run. Default 4.
            stop_timeout: Time ECS waits after SIGTERM before SIGKILL, 30 to 120 s. Default 120 s.
            alarm_topic: Where alarms notify; default a new topic (subscribed to -c alarm_email).
            profile: sandbox or production; default from the app's context.
        """
        super().__init__(scope, construct_id)
        self._check(locals())
        self._profile = profile or profile_of(self)
        self.backlog_target = backlog_target(acceptable_latency, average_processing_time)
        self._acceptable_latency = acceptable_latency
        self._max_capacity = max_capacity
        self.alarm_topic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=self._profile)
        visibility = visibility_timeout or DEFAULT_VISIBILITY
        self.queue, self.dead_letter_queue, self.queue_key = job_queue(
            self,
            queue=queue,
            dead_letter=dead_letter_queue,
            max_receive_count=max_receive_count,
            visibility_timeout=visibility,
            profile=self._profile,
        )
        arm = cpu_architecture == "ARM64"
        self._own_vpc: LookupFreeVpc | None = None
        self.cluster = cluster or self._new_cluster(vpc)
        self.vpc = self.cluster.vpc
        self.log_group = log_group(self, "WorkerLogs", profile=self._profile)
        self.image = ecs.ContainerImage.from_asset(
            image_directory,
            file=dockerfile,
            platform=ecr_assets.Platform.LINUX_ARM64 if arm else ecr_assets.Platform.LINUX_AMD64,
            exclude=["__pycache__", "*.pyc"],
        )
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"Workers of {self.node.path}: consume one queue, dead-letter what can never succeed",
        )
        self.queue.grant_consume_messages(self.task_role)
        grant_send(self.dead_letter_queue, self.task_role)
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"ECS for {self.node.path}: pull the worker image, write its log group",
        )
        stop_seconds = int(stop_timeout.to_seconds())
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=cpu,
            memory_limit_mib=memory_limit_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64 if arm else ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_role=self.task_role,
            execution_role=self.execution_role,
            volumes=[ecs.Volume(name="tmp")],  # the only writable path: the job's scratch files
        )
        own = {
            "AWS_REGION": Aws.REGION,
            "AWS_DEFAULT_REGION": Aws.REGION,
            "QUEUE_URL": self.queue.queue_url,
            "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue.queue_url,
            "CONCURRENCY": str(concurrency_per_task),
            "VISIBILITY_TIMEOUT_SECONDS": str(int(visibility.to_seconds())),
            "DRAIN_SECONDS": str(stop_seconds - RELEASE_MARGIN),
            "WORKER_HOST": "ecs",
            "STOP_TIMEOUT_SECONDS": str(stop_seconds),
        }
        clashing = sorted(set(environment or {}) & set(own))
        if clashing:
            raise PropError("environment", f"{', '.join(clashing)} are set by the construct")
        self.container = self.task_definition.add_container(
            "worker",
            image=self.image,
            command=list(command) if command else None,
            environment={**own, **(environment or {})},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="worker", log_group=self.log_group),
            readonly_root_filesystem=True,
            user=WORKER_USER,
            stop_timeout=stop_timeout,
            # An init process as PID 1 forwards SIGTERM to the worker and reaps its children.
            linux_parameters=ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True),
        )
        self.container.add_mount_points(
            ecs.MountPoint(container_path="/tmp", source_volume="tmp", read_only=False)
        )
        acknowledge(self.task_definition, "AwsSolutions-ECS2", ENVIRONMENT_REASON)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=self.vpc,
            description="Workers: no inbound rule; HTTPS out to AWS APIs (VPC endpoints)",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs")
        if self._own_vpc is not None:
            self._add_endpoints(self._own_vpc)
        acknowledge(
            self.execution_role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            PULL_REASON,
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=min_capacity,
            assign_public_ip=False,
            security_groups=[self.security_group],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            # A deployment starts the new tasks before it stops the old: throughput holds.
            min_healthy_percent=100,
            max_healthy_percent=200,
            capacity_provider_strategies=self._capacity(spot, on_demand_base),
            platform_version=ecs.FargatePlatformVersion.LATEST,
        )
        self.scalable_target = self.service.auto_scale_task_count(
            min_capacity=min_capacity, max_capacity=max_capacity
        ).node.find_child("Target")  # type: ignore[assignment]
        self.backlog_policy = backlog_per_task_policy(
            self,
            "ScaleOnBacklogPerTask",
            target=self.scalable_target,
            service=self.service,
            queue=self.queue,
            backlog_per_task=self.backlog_target,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
        self.scale_out_of_zero, out_of_zero_alarm = scale_out_of_zero(
            self, "ScaleOutOfZero", target=self.scalable_target, service=self.service, queue=self.queue
        )
        self.alarms = {"ScaleOutOfZero": out_of_zero_alarm}
        self._add_alarms()

    def grant_read_objects(self, bucket: s3.IBucket, prefix: str) -> None:
        """Let the tasks read objects under `prefix` of `bucket` (and nothing else in it)."""
        self._grant_objects(bucket, prefix, ["s3:GetObject"], ["kms:Decrypt"])

    def grant_write_objects(self, bucket: s3.IBucket, prefix: str) -> None:
        """Let the tasks read and create objects under `prefix` (results keyed by job id)."""
        self._grant_objects(
            bucket, prefix, ["s3:GetObject", "s3:PutObject"], ["kms:Decrypt", "kms:GenerateDataKey"]
        )

    def _grant_objects(
        self, bucket: s3.IBucket, prefix: str, actions: list[str], key_actions: list[str]
    ) -> None:
        if not prefix or "*" in prefix or not prefix.endswith("/"):
            raise PropError("prefix", f"{prefix!r} must be a folder such as 'results/' (no wildcard)")
        objects = bucket.arn_for_objects(f"{prefix}*")
        self.task_role.add_to_policy(iam.PolicyStatement(actions=actions, resources=[objects]))
        if bucket.encryption_key is not None:
            bucket.encryption_key.grant(self.task_role, *key_actions)
        default_policy = self.task_role.node.find_child("DefaultPolicy")
        acknowledge(default_policy, wildcard_resource(self, objects), OBJECTS_REASON)

    # Parts -----------------------------------------------------------------------------------

    def _new_cluster(self, vpc: ec2.IVpc | None) -> ecs.Cluster:
        if vpc is None:
            self._own_vpc = self._new_vpc()
            vpc = self._own_vpc.vpc
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=(
                ecs.ContainerInsights.ENHANCED
                if self._profile.is_production
                else ecs.ContainerInsights.ENABLED
            ),
            enable_fargate_capacity_providers=True,
        )
        return cluster

    def _new_vpc(self) -> LookupFreeVpc:
        """Private subnets with no route out (one AZ in sandbox, two in production), VPC
        endpoints for what the tasks call (SQS, ECR, CloudWatch Logs; S3 as a free gateway,
        which also serves ECR's image layers), and flow logs."""
        return worker_vpc(
            self,
            profile=self._profile,
            az_count=2 if self._profile.multi_az else 1,
            nat_gateways=0,
            subnets=[
                ec2.SubnetConfiguration(
                    name="Workers", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20
                ),
            ],
        )

    def _add_endpoints(self, vpc: LookupFreeVpc) -> None:
        """Interface endpoints for what the tasks and ECS call on their behalf, reachable only from
        the tasks' security group."""
        endpoints = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=vpc.vpc,
            description="VPC endpoints: HTTPS from the workers only",
            allow_all_outbound=False,
        )
        endpoints.add_ingress_rule(self.security_group, ec2.Port.tcp(443), "HTTPS from the workers")
        for name, service in (
            ("Sqs", ec2.InterfaceVpcEndpointAwsService.SQS),
            ("EcrApi", ec2.InterfaceVpcEndpointAwsService.ECR),
            ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
            ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
        ):
            vpc.add_interface_endpoint(
                name, service=service, private_dns_enabled=True, open=False, security_groups=[endpoints]
            )

    @staticmethod
    def _capacity(spot: bool, on_demand_base: int) -> list[ecs.CapacityProviderStrategy]:
        if not spot:
            return [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
        return [
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE", base=on_demand_base, weight=1),
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=4),
        ]

    def _add_alarms(self) -> None:
        latency = int(self._acceptable_latency.to_seconds())
        self._alarm(
            "DeadLetterQueueNotEmpty",
            f"A job failed {self.node.path}'s receive count and waits in its dead-letter queue",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
        )
        self._alarm(
            "OldestJobOverLatencyTarget",
            f"The oldest job has waited longer than the acceptable latency ({latency} s)",
            self.queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=latency + 1,
            evaluation_periods=1,
        )
        self._alarm(
            "TasksAtMaxCapacity",
            f"The service has wanted its maximum of {self._max_capacity} tasks for 15 minutes",
            service_metric(self.service, "DesiredTaskCount", "Maximum").with_(period=Duration.minutes(5)),
            threshold=self._max_capacity,
            evaluation_periods=3,
        )
        for name, metric in (
            ("CpuHigh", self.service.metric_cpu_utilization(period=Duration.minutes(5))),
            ("MemoryHigh", self.service.metric_memory_utilization(period=Duration.minutes(5))),
        ):
            self._alarm(
                name,
                f"The tasks of {self.node.path} averaged over 90% of their {name[:-4].lower()} for 15 "
                "minutes: jobs slow down or are killed; raise the task size",
                metric,
                threshold=90,
                evaluation_periods=3,
            )

    def _alarm(
        self,
        alarm_id: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        evaluation_periods: int,
    ) -> None:
        self.alarms[alarm_id] = notifying_alarm(
            self,
            alarm_id,
            metric,
            topic=self.alarm_topic,
            threshold=threshold,
            comparison=AT_LEAST,
            evaluation_periods=evaluation_periods,
            description=description,
        )

    @staticmethod
    def _check(props: dict[str, object]) -> None:
        expect("image_directory", props["image_directory"], str)
        expect("acceptable_latency", props["acceptable_latency"], Duration)
        expect("average_processing_time", props["average_processing_time"], Duration)
        expect("queue", props["queue"], sqs.IQueue, optional=True)
        expect("dead_letter_queue", props["dead_letter_queue"], sqs.IQueue, optional=True)
        expect("vpc", props["vpc"], ec2.IVpc, optional=True)
        expect("cluster", props["cluster"], ecs.ICluster, optional=True)
        expect("alarm_topic", props["alarm_topic"], sns.ITopic, optional=True)
        if props["vpc"] is not None and props["cluster"] is not None:
            raise PropError("vpc", "give vpc or cluster, not both: a cluster brings its VPC")
        for name, low, high in (
            ("concurrency_per_task", 1, 100),
            ("min_capacity", 0, 1000),
            ("max_capacity", 1, 1000),
        ):
            expect(name, props[name], int)
            within(name, props[name], low, high)  # type: ignore[arg-type]
        if props["min_capacity"] > props["max_capacity"]:  # type: ignore[operator]
            raise PropError(
                "min_capacity", f"{props['min_capacity']} is above max_capacity {props['max_capacity']}"
            )
        cpu, memory = props["cpu"], props["memory_limit_mib"]
        if cpu not in FARGATE_SIZES:
            raise PropError(
                "cpu", f"must be one of {', '.join(map(str, FARGATE_SIZES))} (Fargate task sizes), got {cpu}"
            )
        if memory not in FARGATE_SIZES[cpu]:
            allowed = FARGATE_SIZES[cpu]
            raise PropError(
                "memory_limit_mib",
                f"{memory} is not a Fargate size for cpu {cpu}: {allowed.start} to {allowed.stop - 1} "
                f"in steps of {allowed.step}",
            )
        whole_seconds("stop_timeout", props["stop_timeout"], low=30, high=FARGATE_MAX_STOP_TIMEOUT)  # type: ignore[arg-type]
        expect("spot", props["spot"], bool)
        expect("on_demand_base", props["on_demand_base"], int)
        within("on_demand_base", props["on_demand_base"], 0, 100)  # type: ignore[arg-type]
        if props["cpu_architecture"] not in ("ARM64", "X86_64"):
            raise PropError(
                "cpu_architecture", f"must be 'ARM64' or 'X86_64', got {props['cpu_architecture']!r}"
            )
        if props["spot"] and props["cpu_architecture"] != "X86_64":
            raise PropError(
                "spot",
                "Fargate Spot runs only X86_64 Linux tasks (AWS, 'Fargate capacity providers'); "
                "set cpu_architecture='X86_64' or spot=False",
            )
