"""`HealthCheckAlarm`: an alarm on a Route 53 health check's status. Route 53 publishes its
health-check metrics only in us-east-1 ("Monitoring health checks using CloudWatch"), so the
alarm, and the topic it notifies (an alarm's SNS action must be in the alarm's Region), live there.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..shared.defaults import BELOW, Profile, new_alarm_topic, notifying_alarm
from ..shared.props import PropError, expect

HEALTH_METRICS_REGION = "us-east-1"


class HealthCheckAlarm(Construct):
    """Alarms when the health check reports unhealthy for two minutes, or stops reporting.

    Attributes:
        alarm: the alarm on `AWS/Route53 HealthCheckStatus` (minimum below 1).
        alarm_topic: where it notifies (yours, or a new encrypted topic in us-east-1).
    """

    alarm: cloudwatch.Alarm
    alarm_topic: sns.ITopic

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        health_check_id: str,
        description: str,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        """Create the alarm (and its topic).

        Args:
            profile: sandbox or production: the new topic's key.
            health_check_id: the Route 53 health check to watch.
            description: what an unhealthy check means to whoever is paged.
            alarm_topic: an existing topic in us-east-1; default a new encrypted topic.
        """
        super().__init__(scope, construct_id)
        expect("profile", profile, Profile)
        expect("health_check_id", health_check_id, str)
        expect("description", description, str)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        region = Stack.of(self).region
        if Token.is_unresolved(region) or region != HEALTH_METRICS_REGION:
            raise PropError(
                "scope",
                f"Route 53 publishes health-check metrics only in {HEALTH_METRICS_REGION}: build this "
                f"alarm in a stack with env region {HEALTH_METRICS_REGION}, got {region}",
            )
        self.alarm_topic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        metric = cloudwatch.Metric(
            namespace="AWS/Route53",
            metric_name="HealthCheckStatus",
            dimensions_map={"HealthCheckId": health_check_id},
            statistic="Minimum",
            period=Duration.minutes(1),
        )
        self.alarm = notifying_alarm(
            self,
            "Unhealthy",
            metric,
            topic=self.alarm_topic,
            threshold=1,
            evaluation_periods=2,
            comparison=BELOW,
            # the check reports every minute while it exists: silence means it is gone
            missing_data=cloudwatch.TreatMissingData.BREACHING,
            description=description,
        )
