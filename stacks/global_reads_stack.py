"""GlobalReads: the MultiTier app in a home Region (`GlobalReadsHome`, the writer) and its reads
served in a second Region (`GlobalReads`: a cross-Region replica and a read-only web tier), with
Route 53 latency records for both load balancers.

Built only when the context names the Regions and the zone: `-c home_region=us-east-1
-c read_region=ap-northeast-1 -c domain=shop.example.com -c hosted_zone_id=Z123...`. The
hosted zone is taken from that context (no lookup, so no account at synth); `domain` is the
name users reach (latency-routed), `home.<domain>` the home Region's own name, which the read
Region's app forwards writes to. Nothing crosses Regions as a CloudFormation reference
(aws/aws-cdk#27902): the replica's source is an ARN built from the home stack's name, and the
database secret is a Secrets Manager replica found by its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, CfnOutput, CfnParameter, Duration, Fn, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from patterns.global_reads import CrossRegionReplica, LatencyRecord
from patterns.multi_tier import Network, WebTier
from patterns.shared.defaults import Profile, acknowledge, new_alarm_topic
from stacks.multi_tier_stack import (
    APP_PORT,
    DEEP_HEALTH_PATH,
    HEALTH_PATH,
    MAX_AZS,
    WEB_APP_DIR,
    MultiTierStack,
    install_app,
)

CONTEXT_KEYS = ("home_region", "read_region", "domain", "hosted_zone_id")
HOME_STACK_ID, READ_STACK_ID = "GlobalReadsHome", "GlobalReads"
SKIPPED = (
    f"{READ_STACK_ID}: not built; give "
    + " ".join(f"-c {key}=..." for key in CONTEXT_KEYS)
    + f" to build {HOME_STACK_ID} and {READ_STACK_ID} (docs/global-reads.md)"
)
EXAMPLE_CONTEXT = {
    "home_region": "us-east-1",
    "read_region": "ap-northeast-1",
    "domain": "shop.example.test",
    "hosted_zone_id": "Z0EXAMPLE0ZONE0ID",
}
"""The seeds' Tokyo example, with a domain that never resolves: what `make docs` draws and the
tests check."""
MAX_REPLICA_LAG = Duration.seconds(30)
"""The app's bound (reads go home past it) and the lag alarm's threshold: one figure."""
DOMAIN = re.compile(r"(?=.{1,240}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


@dataclass(frozen=True)
class GlobalReadsContext:
    home_region: str
    read_region: str
    domain: str
    hosted_zone_id: str

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> GlobalReadsContext | None:
        """None when no key is given; ValueError naming what is missing or wrong otherwise."""
        given = {key: str(context[key]).strip() for key in CONTEXT_KEYS if context.get(key)}
        # domain and hosted_zone_id are the Standby stacks' context too: only a Region of ours
        # says these stacks are wanted.
        if not given.keys() & {"home_region", "read_region"}:
            return None
        missing = [key for key in CONTEXT_KEYS if key not in given]
        if missing:
            wanted = ", ".join(CONTEXT_KEYS)
            raise ValueError(f"{READ_STACK_ID}: context {', '.join(missing)} missing (give all of {wanted})")
        if given["home_region"] == given["read_region"]:
            raise ValueError(
                f"{READ_STACK_ID}: home_region and read_region are both {given['home_region']}: "
                "a read Region must be another Region"
            )
        if not DOMAIN.fullmatch(given["domain"]):
            raise ValueError(f"{READ_STACK_ID}: domain {given['domain']!r} is not a lower-case DNS name")
        return cls(**given)

    @property
    def home_name(self) -> str:
        return f"home.{self.domain}"


def writer_identifier(home_stack_name: str) -> str:
    """The home writer's identifier: unique per home stack, known to the read stack by name."""
    return f"{home_stack_name.lower()}-writer"


FORWARDING_TOKEN_HEADER = "X-Forwarding-Token"
"""The header the read Region's app adds to what it forwards home (runtime/web_app/regions.py):
the home WAF's rate rule does not count requests carrying the token, which all leave the read
Region through a few NAT addresses; the read Region's own WAF rate-limits each user."""


def forwarding_token_name(home_stack_name: str) -> str:
    """The forwarding token's secret: made by the home stack, replicated to the read Region."""
    return f"{home_stack_name.lower()}-forwarding-token"


def hosted_zone(scope: Construct, context: GlobalReadsContext) -> route53.IHostedZone:
    return route53.HostedZone.from_hosted_zone_attributes(
        scope, "Zone", hosted_zone_id=context.hosted_zone_id, zone_name=context.domain
    )


class GlobalReadsHomeStack(MultiTierStack):
    """MultiTier in the home Region, with a named writer whose secret is replicated to the read
    Region, its latency record, and `home.<domain>` for the read Region's forwarded writes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        context: GlobalReadsContext,
        **kwargs: Any,
    ) -> None:
        token_name = forwarding_token_name(construct_id)
        super().__init__(
            scope,
            construct_id,
            profile=profile,
            writer_identifier=writer_identifier(construct_id),
            secret_replica_regions=[context.read_region],
            # WAF reads the token when CloudFormation resolves the reference (create or update).
            waf_rate_exempt_header=(
                FORWARDING_TOKEN_HEADER,
                f"{{{{resolve:secretsmanager:{token_name}:SecretString}}}}",
            ),
            **kwargs,
        )
        self.forwarding_token = secretsmanager.Secret(
            self,
            "ForwardingToken",
            secret_name=token_name,
            description="Sent by the read Region's app on requests it forwards home; the home WAF's "
            "per-IP rate rule does not count requests carrying it",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
            replica_regions=[secretsmanager.ReplicaRegion(region=context.read_region)],
            removal_policy=profile.removal_policy,
        )
        acknowledge(
            self.forwarding_token,
            "AwsSolutions-SMG4",
            "The home WAF holds the token as CloudFormation resolved it at the last stack update: a "
            "rotation would make WAF count forwarded requests again until the next update. Replace "
            "it with a stack update (docs/global-reads.md).",
        )
        if self.web.web_acl is not None:
            self.web.web_acl.node.add_dependency(self.forwarding_token)
        zone = hosted_zone(self, context)
        self.https = self.web.url.startswith("https://")
        """Whether the home load balancer serves HTTPS (then its port 80 only redirects): the
        read Region's app must call it by the same scheme."""
        self.latency = LatencyRecord(
            self,
            "Latency",
            zone=zone,
            record_name=context.domain,
            load_balancer=self.web.load_balancer,
            region=context.home_region,
            https=self.https,
            health_check_path=HEALTH_PATH,
        )
        route53.ARecord(
            self,
            "HomeName",
            zone=zone,
            record_name=context.home_name,
            target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(self.web.load_balancer)),
        )
        CfnOutput(
            self,
            "HomeUrl",
            value=f"{'https' if self.https else 'http'}://{context.home_name}",
        )


class GlobalReadsStack(Stack):
    """The read Region: a Network, the cross-Region replica, the read-only web tier in front of
    it, and its latency record. Context `read_certificate_arn` (ACM, in the read Region, for
    `domain`) turns on HTTPS; production requires one, as that or the `CertificateArn` parameter.
    `home_https` is the home stack's own `https` (its certificate, not this Region's, says how
    the app reaches `home.<domain>`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        context: GlobalReadsContext,
        home_stack_name: str,
        home_https: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        certificate = self._certificate(profile)
        alarm_topic = new_alarm_topic(self, "AlarmTopic", profile=profile)
        network = Network(self, "Network", profile=profile)
        identifier = writer_identifier(home_stack_name)
        replica = CrossRegionReplica(
            self,
            "Replica",
            vpc=network.vpc,
            source_region=context.home_region,
            source_instance_identifier=identifier,
            max_lag=MAX_REPLICA_LAG,
            alarm_topic=alarm_topic,
            profile=profile,
        )
        user_data = ec2.UserData.for_linux()
        web = WebTier(
            self,
            "Web",
            vpc=network.vpc,
            user_data=user_data,
            app_port=APP_PORT,
            health_check_path=HEALTH_PATH,
            deep_health_path=DEEP_HEALTH_PATH,
            certificate=certificate,
            alarm_topic=alarm_topic,
            profile=profile,
        )
        replica.allow_from(web.auto_scaling_group, "web instances")
        web.auto_scaling_group.node.add_dependency(replica.instance)
        https = certificate is not None
        home_scheme = "https" if home_https else "http"
        if not home_https:  # sandbox: the home Region's app answers on HTTP only
            web.security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP to the home Region's app"
            )
        app = s3_assets.Asset(self, "WebAppCode", path=str(WEB_APP_DIR), exclude=["__pycache__", "*.pyc"])
        web.instance_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[app.bucket.arn_for_objects(app.s3_object_key)]
            )
        )
        # The home writer's secret, replicated into this Region by the home stack: the app opens
        # replica connections with it even while the home Region is unreachable.
        secret = secretsmanager.Secret.from_secret_name_v2(self, "DatabaseSecret", f"{identifier}/master")
        secret.grant_read(web.instance_role)
        token = secretsmanager.Secret.from_secret_name_v2(
            self, "ForwardingToken", forwarding_token_name(home_stack_name)
        )
        token.grant_read(web.instance_role)
        install_app(
            user_data,
            app,
            {
                "APP_PORT": str(APP_PORT),
                "AWS_REGION": Aws.REGION,
                "HOME_URL": f"{home_scheme}://{context.home_name}",
                "MAX_REPLICA_LAG": str(int(MAX_REPLICA_LAG.to_seconds())),
                "DB_READER_HOSTS": replica.endpoint_address,
                "DB_READER_PORT": str(replica.port),
                "DB_NAME": "app",
                "DB_SECRET_ARN": secret.secret_name,  # GetSecretValue takes the name
                "DB_SSLMODE": "verify-full",
                "DB_SSLROOTCERT": "/opt/web_app/ca.pem",
                "FORWARDING_TOKEN_SECRET": token.secret_name,
            },
        )
        self.latency = LatencyRecord(
            self,
            "Latency",
            zone=hosted_zone(self, context),
            record_name=context.domain,
            load_balancer=web.load_balancer,
            region=context.read_region,
            https=https,
            health_check_path=HEALTH_PATH,
        )
        self.network, self.replica, self.web, self.alarm_topic = network, replica, web, alarm_topic
        CfnOutput(self, "Url", value=f"{'https' if https else 'http'}://{context.domain}")
        CfnOutput(self, "LoadBalancerUrl", value=web.url)
        CfnOutput(self, "ReplicaEndpoint", value=replica.endpoint_address)
        CfnOutput(self, "AlarmTopicArn", value=alarm_topic.topic_arn)

    @property
    def availability_zones(self) -> list[str]:
        """The Region's AZs as deploy-time tokens, as MultiTierStack does (no lookup, no
        stack-wide acknowledgement)."""
        return [Fn.select(i, Fn.get_azs()) for i in range(MAX_AZS)]

    def _certificate(self, profile: Profile) -> acm.ICertificate | None:
        arn = self.node.try_get_context("read_certificate_arn")
        if arn is None and profile.is_production:
            arn = CfnParameter(
                self,
                "CertificateArn",
                description="ARN of the ACM certificate (in this Region) the load balancer serves HTTPS with",
                allowed_pattern=r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+",
            ).value_as_string
        if arn is None:
            return None
        return acm.Certificate.from_certificate_arn(self, "Certificate", str(arn))
