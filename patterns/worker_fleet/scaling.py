"""How a worker fleet scales: on its backlog per instance, and out of zero.

AWS's documented way to scale consumers of a queue: keep the backlog per instance
(ApproximateNumberOfMessagesVisible / GroupInServiceInstances) at the backlog one instance can
clear within the acceptable latency, i.e. acceptable latency / average processing time.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..shared.backlog import backlog_target

__all__ = ["backlog_per_instance_policy", "backlog_target", "group_metric", "scale_out_of_zero"]

Policy = autoscaling.CfnScalingPolicy
METRIC_PERIOD = Duration.minutes(1)


def _metric(
    query_id: str, namespace: str, name: str, dimension: str, value: str, stat: str
) -> Policy.TargetTrackingMetricDataQueryProperty:
    return Policy.TargetTrackingMetricDataQueryProperty(
        id=query_id,
        metric_stat=Policy.TargetTrackingMetricStatProperty(
            metric=Policy.MetricProperty(
                namespace=namespace,
                metric_name=name,
                dimensions=[Policy.MetricDimensionProperty(name=dimension, value=value)],
            ),
            stat=stat,
        ),
        return_data=False,
    )


def backlog_per_instance_policy(
    scope: Construct,
    construct_id: str,
    *,
    group: autoscaling.AutoScalingGroup,
    queue: sqs.IQueue,
    target: float,
    warmup: Duration,
) -> autoscaling.CfnScalingPolicy:
    """Target tracking on messages visible or in flight / in-service instances.

    In-flight messages count: with visible ones alone the metric falls to 0 while a busy fleet
    keeps up, and target tracking, whose desired capacity is proportional to the metric, would
    scale the fleet in to nothing mid-work and start again from zero.

    L1 because the L2 target tracking (`scale_on_metric`, `scale_to_track_metric`) rejects a math
    expression ("Only direct metrics are supported for Target Tracking", aws/aws-cdk#20659);
    CloudFormation takes one through CustomizedMetricSpecification.Metrics. With no instance in
    service the ratio has no value, so this policy cannot start an empty fleet: see
    `scale_out_of_zero`.
    """
    return autoscaling.CfnScalingPolicy(
        scope,
        construct_id,
        auto_scaling_group_name=group.auto_scaling_group_name,
        policy_type="TargetTrackingScaling",
        estimated_instance_warmup=int(warmup.to_seconds()),
        target_tracking_configuration=Policy.TargetTrackingConfigurationProperty(
            target_value=target,
            customized_metric_specification=Policy.CustomizedMetricSpecificationProperty(
                metrics=[
                    _metric(
                        "visible",
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesVisible",
                        "QueueName",
                        queue.queue_name,
                        "Sum",
                    ),
                    _metric(
                        "inFlight",
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesNotVisible",
                        "QueueName",
                        queue.queue_name,
                        "Sum",
                    ),
                    _metric(
                        "inService",
                        "AWS/AutoScaling",
                        "GroupInServiceInstances",
                        "AutoScalingGroupName",
                        group.auto_scaling_group_name,
                        "Average",
                    ),
                    Policy.TargetTrackingMetricDataQueryProperty(
                        id="backlogPerInstance",
                        expression="(visible + inFlight) / inService",
                        label="Messages waiting or in flight per in-service instance",
                        return_data=True,
                    ),
                ]
            ),
        ),
    )


def group_metric(group: autoscaling.IAutoScalingGroup, name: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/AutoScaling",
        metric_name=name,
        dimensions_map={"AutoScalingGroupName": group.auto_scaling_group_name},
        statistic="Maximum",
        period=METRIC_PERIOD,
    )


def scale_out_of_zero(
    scope: Construct,
    construct_id: str,
    *,
    group: autoscaling.AutoScalingGroup,
    queue: sqs.IQueue,
) -> tuple[autoscaling.StepScalingAction, cloudwatch.Alarm]:
    """Start one instance when messages wait and the fleet wants none; target tracking then
    sizes the fleet once that instance is in service.

    The condition is on the desired capacity rather than the in-service count so the alarm
    clears as soon as the first instance is requested, not minutes later when it is in service.
    """
    waiting_for_an_empty_fleet = cloudwatch.MathExpression(
        expression="IF(desired == 0, visible, 0)",
        using_metrics={
            "visible": queue.metric_approximate_number_of_messages_visible(
                period=METRIC_PERIOD, statistic="Maximum"
            ),
            "desired": group_metric(group, "GroupDesiredCapacity"),
        },
        label="Messages waiting while the fleet is empty",
        period=METRIC_PERIOD,
    )
    action = autoscaling.StepScalingAction(
        scope,
        construct_id,
        auto_scaling_group=group,
        adjustment_type=autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
    )
    action.add_adjustment(adjustment=1, lower_bound=0)
    alarm = cloudwatch.Alarm(
        scope,
        f"{construct_id}Alarm",
        alarm_description="Jobs are waiting and the fleet has no instance: start one",
        metric=waiting_for_an_empty_fleet,
        threshold=0,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.AutoScalingAction(action))
    return action, alarm
