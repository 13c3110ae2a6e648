"""How the container workers scale: on the queue's backlog per running task, and out of zero.

The rule of the EC2 worker fleet (`patterns/shared/backlog.py`), on Application Auto Scaling,
with the messages being worked counted in: keep (ApproximateNumberOfMessagesVisible +
ApproximateNumberOfMessagesNotVisible) / RunningTaskCount at acceptable latency / processing
time per message. Visible messages alone fall to about 0 whenever the tasks keep up, and target
tracking would then set ceil(tasks x 0 / target) = 0 tasks mid-work (after its scale-in alarm's
15 minutes): the tasks would stop, release their messages and start again from zero. With the
in-flight messages counted the metric stays above 0 until the last one is deleted.

RunningTaskCount is a Container Insights metric (ECS/ContainerInsights, ClusterName +
ServiceName), so the cluster must have Container Insights on (the construct turns it on for a
cluster it creates; the wiring rule `BacklogScalingNeedsContainerInsights` checks one it is
given).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

Policy = appscaling.CfnScalingPolicy
METRIC_PERIOD = Duration.minutes(1)
INSIGHTS = "ECS/ContainerInsights"


def service_metric(service: ecs.FargateService, name: str, statistic: str = "Average") -> cloudwatch.Metric:
    """A Container Insights metric of the service (RunningTaskCount, DesiredTaskCount, ...)."""
    return cloudwatch.Metric(
        namespace=INSIGHTS,
        metric_name=name,
        dimensions_map={
            "ClusterName": service.cluster.cluster_name,
            "ServiceName": service.service_name,
        },
        statistic=statistic,
        period=METRIC_PERIOD,
    )


def _query(
    query_id: str, metric: cloudwatch.Metric, stat: str
) -> Policy.TargetTrackingMetricDataQueryProperty:
    config = metric.to_metric_config().metric_stat
    assert config is not None
    return Policy.TargetTrackingMetricDataQueryProperty(
        id=query_id,
        metric_stat=Policy.TargetTrackingMetricStatProperty(
            metric=Policy.TargetTrackingMetricProperty(
                namespace=config.namespace,
                metric_name=config.metric_name,
                dimensions=[
                    Policy.TargetTrackingMetricDimensionProperty(name=d.name, value=d.value)
                    for d in config.dimensions or []
                ],
            ),
            stat=stat,
        ),
        return_data=False,
    )


def backlog_per_task_policy(
    scope: Construct,
    construct_id: str,
    *,
    target: appscaling.ScalableTarget,
    service: ecs.FargateService,
    queue: sqs.IQueue,
    backlog_per_task: float,
    scale_in_cooldown: Duration,
    scale_out_cooldown: Duration,
) -> appscaling.CfnScalingPolicy:
    """Target tracking on (visible + in-flight messages) / running tasks.

    L1 because the L2 (`ScalableTarget.scale_to_track_metric`, `scale_on_metric`) takes only a
    direct metric, never a math expression (aws/aws-cdk#34072), while Application Auto Scaling
    takes one through CustomizedMetricSpecification.Metrics. With no task running the ratio has
    no value, so this policy cannot start an empty service: see `scale_out_of_zero`.
    """
    policy = Policy(
        scope,
        construct_id,
        policy_name=f"{construct_id}-backlog-per-task",
        policy_type="TargetTrackingScaling",
        scaling_target_id=target.scalable_target_id,
        target_tracking_scaling_policy_configuration=Policy.TargetTrackingScalingPolicyConfigurationProperty(
            target_value=backlog_per_task,
            scale_in_cooldown=int(scale_in_cooldown.to_seconds()),
            scale_out_cooldown=int(scale_out_cooldown.to_seconds()),
            customized_metric_specification=Policy.CustomizedMetricSpecificationProperty(
                metrics=[
                    _query(
                        "visible",
                        queue.metric_approximate_number_of_messages_visible(period=METRIC_PERIOD),
                        "Sum",
                    ),
                    _query(
                        "inFlight",
                        queue.metric_approximate_number_of_messages_not_visible(period=METRIC_PERIOD),
                        "Sum",
                    ),
                    _query("running", service_metric(service, "RunningTaskCount"), "Average"),
                    Policy.TargetTrackingMetricDataQueryProperty(
                        id="backlogPerTask",
                        expression="(visible + inFlight) / running",
                        label="Messages waiting or in flight per running task",
                        return_data=True,
                    ),
                ]
            ),
        ),
    )
    policy.node.add_dependency(target)
    return policy


def scale_out_of_zero(
    scope: Construct,
    construct_id: str,
    *,
    target: appscaling.ScalableTarget,
    service: ecs.FargateService,
    queue: sqs.IQueue,
) -> tuple[appscaling.StepScalingAction, cloudwatch.Alarm]:
    """Start one task when a message waits, the service wants none and no message is being
    worked; target tracking then sizes the service once that task runs.

    On the desired count (not the running one) so the alarm clears as soon as the first task is
    asked for. FILL(desired, 0): Container Insights may publish nothing for a service with no
    task. That alone would also read a late or missing datapoint of a running service as 0, and
    this +1 step would then add a task a minute toward the maximum; so the alarm also needs no
    message in flight all minute (SQS's own metric, Maximum), which holds only when no task is
    working. FILL(desired, REPEAT) would not do: an alarm of one period has no earlier value to
    repeat. ExactCapacity 1 would not either: a false alarm would cut a busy service to 1 task.
    A task killed mid-job leaves its messages in flight until their visibility timeout, which
    delays this alarm by at most that long.
    """
    waiting_for_an_empty_service = cloudwatch.MathExpression(
        expression="IF(FILL(desired, 0) == 0 AND FILL(inFlight, 0) == 0, visible, 0)",
        using_metrics={
            "visible": queue.metric_approximate_number_of_messages_visible(
                period=METRIC_PERIOD, statistic="Maximum"
            ),
            "inFlight": queue.metric_approximate_number_of_messages_not_visible(
                period=METRIC_PERIOD, statistic="Maximum"
            ),
            "desired": service_metric(service, "DesiredTaskCount", "Maximum"),
        },
        label="Messages waiting while the service has no task",
        period=METRIC_PERIOD,
    )
    action = appscaling.StepScalingAction(
        scope,
        construct_id,
        scaling_target=target,
        adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        cooldown=METRIC_PERIOD,
    )
    action.add_adjustment(adjustment=1, lower_bound=0)
    alarm = cloudwatch.Alarm(
        scope,
        f"{construct_id}Alarm",
        alarm_description="A message is waiting, the service has no task and none is worked: start one",
        metric=waiting_for_an_empty_service,
        threshold=0,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(action))
    return action, alarm
