"""The web tier: an internet-facing ALB in front of an Auto Scaling group in private subnets.

- The ALB is the only way in: instances sit in private subnets, their security group admits
  the ALB's on the app port and nothing else, and there is no SSH (Session Manager instead).
  Outbound, instances reach HTTPS (AWS endpoints, package mirrors) and whatever the caller
  opens for them (the data tier's proxy, replicas and cache), nothing else.
- HTTPS when a certificate is given (HTTP then only redirects); plain HTTP is allowed only in
  the sandbox profile, which has no domain. Invalid header fields are dropped (request
  smuggling), access logs go to an encrypted bucket. Production adds a WAF web ACL (AWS managed
  rules, a per-IP rate limit) and deletion protection on the load balancer.
- Health: the ALB asks a shallow path (the process serves), so a database failover does not
  make every instance unhealthy at once; the group replaces an instance the ALB finds
  unhealthy (after a grace period for boot). The app's deep check (its dependencies) gates
  boot: each new instance signals CloudFormation only once it passes, and creation and rolling
  updates (one instance at a time) wait for that signal, so a broken release stops at its
  first instance and rolls back. In service, each instance publishes the deep check's result
  every minute, and an alarm fires when an instance's dependencies stop answering.
- Instances: launch template with IMDSv2 only and encrypted volumes, a role without any AWS
  managed policy; the group scales on requests per target and spreads over the AZs.
- The app is stateless: deregistration delay is short because no request is long-lived.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from ..shared.defaults import (
    BELOW,
    Profile,
    acknowledge,
    encrypted_root_volume,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
)
from ..shared.instance_fleet import amazon_linux_for, instance_role, scaling_notification_topic
from ..shared.props import expect
from ..shared.web_acl import MIN_RATE_LIMIT, regional_web_acl
from .alb_access_logs import log_access_to
from .provider_logs import own_provider_logs
from .web_tier_boot import DEPENDENCY_METRIC, report_dependency_health, signal_when_ready

DEPENDENCY_NAMESPACE = "refarch/WebTier"
MAX_SIGNAL_TIMEOUT = Duration.hours(12)  # the longest a CloudFormation creation policy may wait
SIGNAL_MARGIN_SECONDS = 120  # an instance gives up this long before CloudFormation does

PUBLIC_INGRESS_REASON = (
    "An internet-facing load balancer must accept connections from any address on its "
    "listener ports (80, and 443 with a certificate); the instances behind it admit only it."
)
ACCESS_LOG_BUCKET_REASON = (
    "This bucket only receives the load balancer's access logs, written by ELB; server access "
    "logs of it would need yet another bucket, whose own access logs would need another."
)


class WebTier(Construct):
    """An ALB and the Auto Scaling group that serves it, in an existing VPC.

    `user_data` must be bash (Linux): the tier appends its readiness signal to it.

    Attributes:
        load_balancer: The internet-facing Application Load Balancer, in the public subnets.
        listener: Its HTTPS listener (with a certificate) or HTTP listener (sandbox without).
        target_group: The instances' target group, health-checked on `health_check_path`.
        auto_scaling_group: The instances, in the private subnets with egress.
        launch_template: The instances' launch template (IMDSv2 only, encrypted root volume).
        instance_role: The instances' role: Session Manager, own parameters, signal boot.
        security_group: The instances' security group: the ALB is the only way in.
        access_logs: The bucket (SSE-S3, the only encryption ALB logs accept) of access logs.
        web_acl: The WAF web ACL on the load balancer, or None without WAF.
        url: `https://<ALB DNS name>` with a certificate, else `http://...`.
        alarm_topic: Where the alarms go (new, or `alarm_topic`).
        notification_topic: The group's launch and termination notices.
        alarms: Unhealthy hosts, 5xx rate, p99 response time, and with `deep_health_path` the
            instances' dependencies down.
        profile: The profile the tier was built for.
    """

    load_balancer: elbv2.ApplicationLoadBalancer
    listener: elbv2.ApplicationListener
    target_group: elbv2.ApplicationTargetGroup
    auto_scaling_group: autoscaling.AutoScalingGroup
    launch_template: ec2.LaunchTemplate
    instance_role: iam.Role
    security_group: ec2.SecurityGroup
    access_logs: s3.Bucket
    web_acl: wafv2.CfnWebACL | None
    url: str
    alarm_topic: sns.ITopic
    notification_topic: sns.Topic
    alarms: list[cloudwatch.Alarm]
    profile: Profile

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        user_data: ec2.UserData,
        machine_image: ec2.IMachineImage | None = None,
        instance_type: ec2.InstanceType | None = None,
        min_capacity: int | None = None,
        max_capacity: int | None = None,
        app_port: int = 8080,
        health_check_path: str = "/health",
        deep_health_path: str | None = None,
        boot_timeout: Duration = Duration.minutes(15),
        certificate: acm.ICertificate | None = None,
        requests_per_target_per_minute: int = 600,
        deregistration_delay: Duration = Duration.seconds(30),
        health_check_grace: Duration = Duration.minutes(5),
        alarm_topic: sns.ITopic | None = None,
        web_acl: bool | None = None,
        waf_rate_limit_per_ip: int = 2000,
        waf_rate_exempt_header: tuple[str, str] | None = None,
        profile: Profile | None = None,
    ) -> None:
        """Build the load balancer, the instances and their alarms in `vpc`.

        Args:
            vpc: The VPC: the ALB goes into its public subnets, the instances into its private
                subnets with egress (a `Network`'s VPC has both).
            user_data: Bash user data that installs and starts your app; the tier appends its
                readiness signal (and the dependency reporter) to it.
            machine_image: The instances' image. Default: Amazon Linux 2023 for the instance
                type's CPU architecture (arm64 for Graviton, x86_64 otherwise).
            instance_type: The instances' type. Default: t4g.micro in sandbox, m7g.medium in
                production.
            min_capacity: Fewest instances, at least 1 (2 in production). Default: 1 in sandbox,
                3 in production.
            max_capacity: Most instances, above `min_capacity`. Default: 2 in sandbox, 9 in
                production.
            app_port: The port your app serves HTTP on, 1024 to 65535. Default: 8080.
            health_check_path: The load balancer's (shallow) health check path. Default:
                `/health`.
            deep_health_path: Your app's check of its dependencies: new instances wait for it
                before they signal ready, each instance reports it every minute to the
                `DependenciesDown` alarm, and the ALB answers it with 404. Default: none
                (readiness is `health_check_path`).
            boot_timeout: How long CloudFormation waits for each instance's signal, 5 minutes
                to 12 hours. Default: 15 minutes.
            certificate: An ACM certificate for HTTPS (HTTP then only redirects); required in
                production. Default: none (plain HTTP, sandbox only).
            requests_per_target_per_minute: The scaling target. Default: 600.
            deregistration_delay: How long the ALB drains a leaving instance, 0 to 3600 s.
                Default: 30 seconds.
            health_check_grace: How long a new instance has before ELB health counts. Default:
                5 minutes.
            alarm_topic: Your topic for the alarms. Default: a new encrypted topic.
            web_acl: Whether to put a WAF web ACL on the load balancer. Default: on in
                production, off in sandbox.
            waf_rate_limit_per_ip: Requests per IP in 5 minutes before WAF blocks it. Default:
                2000.
            waf_rate_exempt_header: `(name, secret value)`: requests carrying header `name`
                with exactly that value are not counted by the per-IP rate limit (for a proxy
                you run that forwards many users' requests from a few NAT addresses, and
                rate-limits them itself). Give the value as a `{{resolve:secretsmanager:...}}`
                reference, never in clear. Default: none (every request is counted).
            profile: `SANDBOX` or `PRODUCTION`. Default: the `profile` context value.
        """
        super().__init__(scope, construct_id)
        _check_types(
            vpc=vpc,
            user_data=user_data,
            machine_image=machine_image,
            instance_type=instance_type,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            app_port=app_port,
            health_check_path=health_check_path,
            deep_health_path=deep_health_path,
            boot_timeout=boot_timeout,
            certificate=certificate,
            requests_per_target_per_minute=requests_per_target_per_minute,
            deregistration_delay=deregistration_delay,
            health_check_grace=health_check_grace,
            alarm_topic=alarm_topic,
            web_acl=web_acl,
            waf_rate_limit_per_ip=waf_rate_limit_per_ip,
            waf_rate_exempt_header=waf_rate_exempt_header,
            profile=profile,
        )
        self.profile = profile = profile or profile_of(self)
        production = profile.is_production
        instance_type = instance_type or ec2.InstanceType.of(
            ec2.InstanceClass.T4G if not production else ec2.InstanceClass.M7G,
            ec2.InstanceSize.MICRO if not production else ec2.InstanceSize.MEDIUM,
        )
        min_capacity = min_capacity if min_capacity is not None else (3 if production else 1)
        max_capacity = max_capacity if max_capacity is not None else (9 if production else 2)
        _validate(
            production=production,
            certificate=certificate,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            app_port=app_port,
            health_check_path=health_check_path,
            deep_health_path=deep_health_path,
            boot_timeout=boot_timeout,
            waf_rate_limit_per_ip=waf_rate_limit_per_ip,
            waf_rate_exempt_header=waf_rate_exempt_header,
            requests_per_target_per_minute=requests_per_target_per_minute,
            deregistration_delay=deregistration_delay,
        )
        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        self.alarms: list[cloudwatch.Alarm] = []
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # ALB access logs support only SSE-S3 (not SSE-KMS) on the destination bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365 if production else 7))],
            removal_policy=profile.removal_policy,
            auto_delete_objects=not production,
        )
        own_provider_logs(self, profile)
        acknowledge(self.access_logs, "AwsSolutions-S1", ACCESS_LOG_BUCKET_REASON)
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
            idle_timeout=Duration.seconds(60),
            deletion_protection=profile.deletion_protection,
        )
        self.web_acl = (
            regional_web_acl(
                self,
                "WebAcl",
                resource_arn=self.load_balancer.load_balancer_arn,
                rate_limit_per_ip=waf_rate_limit_per_ip,
                rate_limit_exempt_header=waf_rate_exempt_header,
            )
            if (production if web_acl is None else web_acl)
            else None
        )
        log_access_to(self, self.load_balancer, self.access_logs, prefix="alb")
        acknowledge(
            self.load_balancer.connections.security_groups[0], "AwsSolutions-EC23", PUBLIC_INGRESS_REASON
        )
        if certificate is not None:
            self.listener = self.load_balancer.add_listener(
                "Https",
                port=443,
                certificates=[elbv2.ListenerCertificate.from_certificate_manager(certificate)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            )
            self.load_balancer.add_redirect(source_port=80, target_port=443)
            self.url = f"https://{self.load_balancer.load_balancer_dns_name}"
        else:
            self.listener = self.load_balancer.add_listener("Http", port=80)
            self.url = f"http://{self.load_balancer.load_balancer_dns_name}"

        self.security_group = ec2.SecurityGroup(
            self,
            "InstanceSecurityGroup",
            vpc=vpc,
            description="App instances: the ALB is the only way in; out, HTTPS and the data tier",
            allow_all_outbound=False,
        )
        # AWS endpoints (through the VPC's endpoints or NAT) and package mirrors; the data tier
        # adds its own ports when it allows this group in. DNS, NTP and instance metadata are
        # link-local services security groups do not filter.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: AWS APIs, packages"
        )
        self.instance_role = instance_role(
            self,
            "InstanceRole",
            description=f"Web instances of {self.node.path}: Session Manager, own parameters, signal boot",
            metric_namespace=DEPENDENCY_NAMESPACE if deep_health_path else None,
        )
        self.instance_role.add_to_policy(
            iam.PolicyStatement(actions=["cloudformation:SignalResource"], resources=[Aws.STACK_ID])
        )
        self.notification_topic = scaling_notification_topic(self, "ScalingNotifications")
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            # The image follows the instance type's CPU: an arm64 image does not boot on x86.
            machine_image=machine_image or amazon_linux_for(instance_type),
            instance_type=instance_type,
            role=self.instance_role,
            security_group=self.security_group,
            user_data=user_data,
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            instance_metadata_tags=deep_health_path is not None,  # the reporter reads its group's name
            detailed_monitoring=production,
            block_devices=[encrypted_root_volume()],
        )
        self.auto_scaling_group = autoscaling.AutoScalingGroup(
            self,
            "Instances",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            launch_template=self.launch_template,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            health_checks=autoscaling.HealthChecks.with_additional_checks(
                additional_types=[autoscaling.AdditionalHealthCheckType.ELB],
                grace_period=health_check_grace,
            ),
            # Creation waits for min_capacity signals (the group starts at min_capacity: no
            # desired capacity is set); an update replaces one instance at a time and waits for
            # its signal (pause_time is then the signal timeout), keeping min_capacity serving.
            signals=autoscaling.Signals.wait_for_min_capacity(timeout=boot_timeout),
            update_policy=autoscaling.UpdatePolicy.rolling_update(
                max_batch_size=1,
                min_instances_in_service=min_capacity,
                pause_time=boot_timeout,
            ),
            default_instance_warmup=Duration.minutes(2),
            notifications=[autoscaling.NotificationConfiguration(topic=self.notification_topic)],
        )
        app = f"http://localhost:{app_port}"
        self._signal_boot(user_data, app, health_check_path, deep_health_path, boot_timeout)
        self.target_group = self.listener.add_targets(
            "App",
            port=app_port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.auto_scaling_group],
            deregistration_delay=deregistration_delay,
            health_check=elbv2.HealthCheck(
                path=health_check_path,
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
                healthy_http_codes="200",
            ),
        )
        self.auto_scaling_group.scale_on_request_count(
            "RequestsPerTarget", target_requests_per_minute=requests_per_target_per_minute
        )
        self._add_alarms()
        if deep_health_path is not None:
            self._alarm(
                "DependenciesDown",
                cloudwatch.Metric(
                    namespace=DEPENDENCY_NAMESPACE,
                    metric_name=DEPENDENCY_METRIC,
                    dimensions_map={"AutoScalingGroupName": self.auto_scaling_group.auto_scaling_group_name},
                    statistic="Minimum",
                    period=Duration.minutes(1),
                ),
                threshold=1,
                comparison=BELOW,
                # Every ready instance reports each minute: silence means none is ready, or every
                # reporter is down, which an operator needs to hear as much as a failing check.
                missing_data=cloudwatch.TreatMissingData.BREACHING,
                description=f"An instance's deep health check ({deep_health_path}) fails, or no "
                "instance reports it: a dependency of the app (for the demo, the database writer or "
                "the cache) does not answer",
            )
            # The deep check is for the instances themselves (boot, reporter: on localhost) and
            # operators on the instance; through the ALB it would tell anyone what is down.
            self.listener.add_action(
                "HideDeepHealth",
                priority=1,
                conditions=[
                    elbv2.ListenerCondition.path_patterns([deep_health_path, f"{deep_health_path}/*"])
                ],
                action=elbv2.ListenerAction.fixed_response(
                    404, content_type="application/json", message_body='{"error": "not found"}'
                ),
            )

    def _signal_boot(
        self,
        user_data: ec2.UserData,
        app: str,
        health_check_path: str,
        deep_health_path: str | None,
        timeout: Duration,
    ) -> None:
        """Readiness is the deep check when there is one (else the ALB's path); the deep check's
        reporter starts only once the instance is ready."""
        reporter = None
        if deep_health_path is not None:
            reporter = report_dependency_health(
                user_data,
                deep_health_url=f"{app}{deep_health_path}",
                namespace=DEPENDENCY_NAMESPACE,
                region=Aws.REGION,
            )
        readiness_path = deep_health_path or health_check_path
        group = self.auto_scaling_group.node.default_child
        assert isinstance(group, autoscaling.CfnAutoScalingGroup)
        signal_when_ready(
            user_data,
            readiness_url=f"{app}{readiness_path}",
            give_up_after_seconds=int(timeout.to_seconds()) - SIGNAL_MARGIN_SECONDS,
            stack_name=Aws.STACK_NAME,
            logical_id=Stack.of(self).get_logical_id(group),
            region=Aws.REGION,
            start_when_ready=reporter,
        )

    def _add_alarms(self) -> None:
        metrics = self.target_group.metrics
        self._alarm(
            "UnhealthyHosts",
            metrics.unhealthy_host_count(statistic="Maximum", period=Duration.minutes(1)),
            threshold=0,
            description="At least one instance fails the ALB health check",
        )
        server_errors = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)",
            using_metrics={
                "requests": self.load_balancer.metrics.request_count(statistic="Sum"),
                "target5xx": metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, statistic="Sum"),
                "elb5xx": self.load_balancer.metrics.http_code_elb(
                    elbv2.HttpCodeElb.ELB_5XX_COUNT, statistic="Sum"
                ),
            },
            period=Duration.minutes(1),
            label="5xx responses, % of requests",
        )
        self._alarm(
            "ServerErrorRate", server_errors, threshold=5, description="More than 5% of responses are 5xx"
        )
        self._alarm(
            "TargetResponseTime",
            metrics.target_response_time(statistic="p99", period=Duration.minutes(1)),
            threshold=1,
            description="p99 target response time is above 1 second",
        )

    def _alarm(
        self,
        alarm_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        # 3 of 5 one-minute periods: one bad minute (a deploy, a cold instance) does not page.
        self.alarms.append(
            notifying_alarm(
                self,
                alarm_id,
                metric,
                topic=self.alarm_topic,
                threshold=threshold,
                description=description,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                comparison=comparison,
                missing_data=missing_data,
            )
        )


def _check_types(**props: Any) -> None:
    types: dict[str, tuple[type, bool]] = {
        "vpc": (ec2.IVpc, False),
        "user_data": (ec2.UserData, False),
        "machine_image": (ec2.IMachineImage, True),
        "instance_type": (ec2.InstanceType, True),
        "min_capacity": (int, True),
        "max_capacity": (int, True),
        "app_port": (int, False),
        "health_check_path": (str, False),
        "deep_health_path": (str, True),
        "boot_timeout": (Duration, False),
        "certificate": (acm.ICertificate, True),
        "requests_per_target_per_minute": (int, False),
        "deregistration_delay": (Duration, False),
        "health_check_grace": (Duration, False),
        "alarm_topic": (sns.ITopic, True),
        "web_acl": (bool, True),
        "waf_rate_limit_per_ip": (int, False),
        "waf_rate_exempt_header": (tuple, True),
        "profile": (Profile, True),
    }
    for name, (expected, optional) in types.items():
        expect(name, props[name], expected, optional=optional)


def _validate(
    *,
    production: bool,
    certificate: acm.ICertificate | None,
    min_capacity: int,
    max_capacity: int,
    app_port: int,
    health_check_path: str,
    deep_health_path: str | None,
    boot_timeout: Duration,
    waf_rate_limit_per_ip: int,
    waf_rate_exempt_header: tuple[str, str] | None,
    requests_per_target_per_minute: int,
    deregistration_delay: Duration,
) -> None:
    if production and certificate is None:
        raise ValueError(
            "certificate: the production profile serves HTTPS only; pass an ACM certificate for your domain"
        )
    if min_capacity < 1:
        raise ValueError(f"min_capacity: must be at least 1, got {min_capacity}")
    if production and min_capacity < 2:
        raise ValueError(f"min_capacity: production needs instances in at least 2 AZs, got {min_capacity}")
    if max_capacity <= min_capacity:
        raise ValueError(
            f"max_capacity: must be above min_capacity ({min_capacity}) so a rolling update and scaling "
            f"have room, got {max_capacity}"
        )
    if not 1024 <= app_port <= 65535:
        raise ValueError(f"app_port: must be an unprivileged port (1024-65535), got {app_port}")
    if not health_check_path.startswith("/"):
        raise ValueError(f"health_check_path: must start with '/', got {health_check_path!r}")
    if deep_health_path is not None and not deep_health_path.startswith("/"):
        raise ValueError(f"deep_health_path: must start with '/', got {deep_health_path!r}")
    if deep_health_path == health_check_path:
        raise ValueError(
            "deep_health_path: must differ from health_check_path; the load balancer's check stays "
            "shallow so a dependency outage does not make every instance unhealthy at once"
        )
    if not 300 <= boot_timeout.to_seconds() <= MAX_SIGNAL_TIMEOUT.to_seconds():
        raise ValueError("boot_timeout: must be between 5 minutes and 12 hours (CloudFormation's limit)")
    if waf_rate_limit_per_ip < MIN_RATE_LIMIT:
        raise ValueError(
            f"waf_rate_limit_per_ip: WAF allows {MIN_RATE_LIMIT} or more, got {waf_rate_limit_per_ip}"
        )
    if waf_rate_exempt_header is not None and (
        len(waf_rate_exempt_header) != 2
        or not all(isinstance(part, str) and part for part in waf_rate_exempt_header)
    ):
        raise ValueError("waf_rate_exempt_header: must be (header name, secret value), two non-empty strings")
    if requests_per_target_per_minute < 1:
        raise ValueError("requests_per_target_per_minute: must be at least 1")
    if not 0 <= deregistration_delay.to_seconds() <= 3600:
        raise ValueError("deregistration_delay: ALB accepts 0 to 3600 seconds")
