"""ECS services that consume queues: deployments that stop failing, roles that can read what
they consume, capacity that exists for the task's CPU, and the metrics their scaling divides by."""

from __future__ import annotations

from collections.abc import Iterator

from .core import Settings, Violation, rule
from .encryption import QUEUE, RolePolicies, Writer, can_use, key_of
from .model import Model, Resource, as_list

SERVICE, TASK, CLUSTER = "AWS::ECS::Service", "AWS::ECS::TaskDefinition", "AWS::ECS::Cluster"
CONSUMER_ACTIONS = ("kms:Decrypt",)


@rule(
    "ServiceCircuitBreaker",
    doc="Every ECS service (ECS deployment controller) has the deployment circuit breaker on, with "
    "rollback: without it a deployment whose tasks never start keeps replacing them until "
    "CloudFormation gives up, up to 3 hours later, and is not rolled back.",
    source="https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html; "
    "aws/aws-cdk#20706 (QueueProcessingFargateService leaves it off)",
)
def service_circuit_breaker(model: Model, settings: Settings) -> Iterator[Violation]:
    for service in model.of_type(SERVICE):
        controller = (service.properties.get("DeploymentController") or {}).get("Type", "ECS")
        if controller != "ECS":
            continue  # CODE_DEPLOY and EXTERNAL deployments roll back on their own terms
        breaker = (service.properties.get("DeploymentConfiguration") or {}).get(
            "DeploymentCircuitBreaker"
        ) or {}
        if breaker.get("Enable") is True and breaker.get("Rollback") is True:
            continue
        yield Violation(
            "ServiceCircuitBreaker",
            service,
            "the deployment circuit breaker is "
            + ("on without rollback" if breaker.get("Enable") is True else "off")
            + ": a deployment whose tasks fail to start is not stopped and rolled back.",
            "Set circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True).",
            "Properties/DeploymentConfiguration",
        )


@rule(
    "ConsumerCanUseKey",
    doc="Every role allowed to receive from an SQS queue encrypted with a customer-managed key can "
    "kms:Decrypt with that key; otherwise every ReceiveMessage fails with KMS.AccessDeniedException "
    "and the messages go to the dead-letter queue unprocessed.",
    source="https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
    "sqs-key-management.html (consumers need kms:Decrypt)",
)
def consumer_can_use_key(model: Model, settings: Settings) -> Iterator[Violation]:
    roles = RolePolicies(model)
    seen: set[tuple[Resource, Resource]] = set()
    for role, statements in roles.statements.items():
        for statement, stack in statements:
            if statement.get("Effect") != "Allow" or not any(
                str(a).lower() in ("sqs:receivemessage", "sqs:*") for a in as_list(statement.get("Action"))
            ):
                continue
            for queue in model.targets_of_type(statement.get("Resource"), stack, QUEUE):
                key = key_of(model, queue)
                if not isinstance(key, Resource) or (role, queue) in seen:
                    continue
                seen.add((role, queue))
                if not can_use(model, Writer(role, "Policies", role=role), key, CONSUMER_ACTIONS, roles):
                    yield Violation(
                        "ConsumerCanUseKey",
                        role,
                        f"the role may receive from {queue.path}, but cannot kms:Decrypt with its key "
                        f"{key.path}: every receive fails and the messages end in the dead-letter queue.",
                        "Grant it with queue.grant_consume_messages(role), or key.grant_decrypt(role) on "
                        f"{key.path}.",
                        "Policies",
                    )


def _strategy(service: Resource) -> list[str]:
    return [
        str(s.get("CapacityProvider")) for s in as_list(service.properties.get("CapacityProviderStrategy"))
    ]


@rule(
    "FargateSpotArchitecture",
    doc="A service that places tasks on FARGATE_SPOT runs X86_64 tasks: Fargate Spot has no ARM64 "
    "capacity, so an ARM64 task given to it is never placed.",
    source="https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html",
)
def fargate_spot_architecture(model: Model, settings: Settings) -> Iterator[Violation]:
    for service in model.of_type(SERVICE):
        if "FARGATE_SPOT" not in _strategy(service):
            continue
        task = model.one_target(service.properties.get("TaskDefinition"), service.stack, TASK)
        platform = (task.properties.get("RuntimePlatform") or {}) if task else {}
        if platform.get("CpuArchitecture") == "ARM64":
            yield Violation(
                "FargateSpotArchitecture",
                service,
                "its capacity provider strategy includes FARGATE_SPOT, but its task "
                f"{task.path if task else '?'} is ARM64, which Fargate Spot does not run.",
                "Use X86_64 for Spot tasks, or drop FARGATE_SPOT from the strategy.",
                "Properties/CapacityProviderStrategy",
            )


def _insights(cluster: Resource) -> str:
    for setting in as_list(cluster.properties.get("ClusterSettings")):
        if setting.get("Name") == "containerInsights":
            return str(setting.get("Value", "disabled"))
    return "disabled"  # the account default applies; CDK and most accounts leave it off


@rule(
    "BacklogScalingNeedsContainerInsights",
    doc="A scaling policy or alarm that reads ECS/ContainerInsights metrics of a service (such as "
    "RunningTaskCount in backlog per task) is on a cluster with Container Insights on; otherwise the "
    "metric never exists and the policy never acts.",
    source="https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html",
)
def backlog_scaling_needs_container_insights(model: Model, settings: Settings) -> Iterator[Violation]:
    readers = [
        *model.of_type("AWS::ApplicationAutoScaling::ScalingPolicy"),
        *model.of_type("AWS::CloudWatch::Alarm"),
    ]
    for reader in readers:
        for metric in _insights_metrics(reader.properties):
            for dimension in as_list(metric.get("Dimensions")):
                if dimension.get("Name") != "ClusterName":
                    continue
                cluster = model.one_target(dimension.get("Value"), reader.stack, CLUSTER)
                if cluster is not None and _insights(cluster) == "disabled":
                    yield Violation(
                        "BacklogScalingNeedsContainerInsights",
                        reader,
                        f"it reads {metric.get('MetricName')} from ECS/ContainerInsights, but the "
                        f"cluster {cluster.path} has Container Insights off: the metric never exists.",
                        "Turn Container Insights on for the cluster (container_insights_v2=ENABLED or "
                        "ENHANCED).",
                    )


def _insights_metrics(value: object) -> Iterator[dict[str, object]]:
    """Every metric definition (Namespace + MetricName) under ECS/ContainerInsights in a value."""
    if isinstance(value, dict):
        if value.get("Namespace") == "ECS/ContainerInsights" and "MetricName" in value:
            yield value
            return
        for inner in value.values():
            yield from _insights_metrics(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _insights_metrics(inner)
