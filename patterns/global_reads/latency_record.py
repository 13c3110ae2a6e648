"""One Region's latency record: an alias to its load balancer, with a Route 53 health check.

Route 53 answers a latency-routed name with the record whose `Region` has the lowest latency
to the resolver, among the records whose health check passes; when every record's check fails,
it answers as if all were healthy (Route 53 Developer Guide, "Latency-based routing" and "How
Amazon Route 53 chooses records when health checking is configured").

The health check asks the app's shallow `/health`, which never touches a database: a replica
that lags or stops does not take its Region out of DNS, because the app already sends those
reads home (runtime/web_app/regions.py). What takes a Region out is its load balancer or its
instances not answering. That is the rule chosen: fail open on dependencies.
"""

from __future__ import annotations

import re

from aws_cdk import Duration, Token
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from ..multi_tier.data_tier import REGION
from ..shared.props import PropError, expect, whole_seconds, within

RECORD_NAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)


class LatencyRecord(Construct):
    """An A alias record routed by latency to `load_balancer`, answered only while it is healthy.

    Attributes:
        record: The latency-routed alias record (`route53.ARecord`).
        health_check: The Route 53 health check of the load balancer's `health_check_path`.
        region: The Region the record is routed for (the load balancer's).
    """

    record: route53.ARecord
    health_check: route53.HealthCheck
    region: str

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        zone: route53.IHostedZone,
        record_name: str,
        load_balancer: elbv2.IApplicationLoadBalancer,
        region: str,
        https: bool,
        health_check_path: str = "/health",
        failure_threshold: int = 3,
        request_interval: Duration = Duration.seconds(30),
    ) -> None:
        """Build the health check and the latency record.

        Args:
            zone: The hosted zone that holds `record_name` (e.g. from
                `HostedZone.from_hosted_zone_attributes`: no lookup, no account needed).
            record_name: The name users reach, in `zone` (e.g. `shop.example.com`).
            load_balancer: This Region's internet-facing Application Load Balancer.
            region: The load balancer's Region (the record's `Region`, and its set identifier).
            https: Whether the health check asks over HTTPS (port 443) rather than HTTP (80).
            health_check_path: The app's shallow health path, which must answer 200 whatever
                its dependencies do. Default: `/health`.
            failure_threshold: Consecutive failures (1 to 10) before the Region is taken out.
                Default: 3.
            request_interval: Between checks from each checker: 10 or 30 seconds. Default: 30 s.
        """
        super().__init__(scope, construct_id)
        expect("zone", zone, route53.IHostedZone)
        expect("record_name", record_name, str)
        expect("load_balancer", load_balancer, elbv2.IApplicationLoadBalancer)
        expect("region", region, str)
        expect("https", https, bool)
        expect("health_check_path", health_check_path, str)
        expect("failure_threshold", failure_threshold, int)
        if not Token.is_unresolved(record_name) and not RECORD_NAME.fullmatch(record_name):
            raise PropError(
                "record_name", f"expected a lower-case DNS name such as shop.example.com, got {record_name!r}"
            )
        if not REGION.fullmatch(region):
            raise PropError("region", f"expected a Region such as ap-northeast-1, got {region!r}")
        if not health_check_path.startswith("/") or len(health_check_path) > 255:
            raise PropError(
                "health_check_path",
                f"expected a path starting with / (at most 255 characters), got {health_check_path!r}",
            )
        within("failure_threshold", failure_threshold, 1, 10)
        interval = whole_seconds("request_interval", request_interval)
        if interval not in (10, 30):  # Route 53 offers standard (30 s) and fast (10 s) checks only
            raise PropError("request_interval", f"Route 53 checks every 10 or 30 seconds, got {interval} s")
        self.region = region
        self.health_check = route53.HealthCheck(
            self,
            "HealthCheck",
            type=route53.HealthCheckType.HTTPS if https else route53.HealthCheckType.HTTP,
            fqdn=load_balancer.load_balancer_dns_name,
            port=443 if https else 80,
            resource_path=health_check_path,
            failure_threshold=failure_threshold,
            request_interval=request_interval,
        )
        self.record = route53.ARecord(
            self,
            "Record",
            zone=zone,
            record_name=record_name,
            target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(load_balancer)),
            region=region,
            set_identifier=region,
            health_check=self.health_check,
        )
