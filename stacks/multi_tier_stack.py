"""MultiTier: the orders/catalog web app on an ALB + Auto Scaling group, PostgreSQL with read
replicas behind RDS Proxy, and a Valkey cache, in a VPC of its own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, CfnParameter, Fn, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from patterns.multi_tier import DataTier, Network, WebTier
from patterns.shared.defaults import Profile, new_alarm_topic

WEB_APP_DIR = Path(__file__).resolve().parent.parent / "runtime" / "web_app"
APP_PORT = 8080
# The app's shallow check (the process serves) is the ALB's; its deep check (the writer and the
# cache answer) gates boot and feeds the dependency alarm (runtime/web_app/server.py).
HEALTH_PATH = "/health"
DEEP_HEALTH_PATH = "/health/deep"
MAX_AZS = 3
RDS_CA_BUNDLE = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
# The demo app's cache rights: the commands and key prefixes runtime/web_app/catalog.py uses
# (scripts' own calls are checked against them too), and nothing else.
WEB_APP_CACHE_ACCESS = "on ~product:* ~fresh:product:* -@all +ping +get +set +del +eval"


class MultiTierStack(Stack):
    """Wires Network, DataTier and WebTier, and installs the demo app on the instances.

    Context `certificate_arn` (an ACM certificate in the stack's region) turns on HTTPS; the
    production profile requires one, as that context or as the `CertificateArn` parameter.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        writer_identifier: str | None = None,
        secret_replica_regions: Sequence[str] = (),
        waf_rate_exempt_header: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        certificate = self._certificate(profile)
        alarm_topic = new_alarm_topic(self, "AlarmTopic", profile=profile)
        network = Network(self, "Network", profile=profile)
        data = DataTier(
            self,
            "Data",
            vpc=network.vpc,
            cache_access_string=WEB_APP_CACHE_ACCESS,
            secrets_manager_endpoint=network.endpoints.get("SecretsManager"),
            instance_identifier=writer_identifier,
            secret_replica_regions=secret_replica_regions,
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
            waf_rate_exempt_header=waf_rate_exempt_header,
            profile=profile,
        )
        data.allow_from(web.auto_scaling_group, "web instances")
        # A new instance signals ready only once the writer answers through the proxy: the group
        # is created after the proxy and its target registration, not while RDS is still starting.
        web.auto_scaling_group.node.add_dependency(data.proxy)
        app = s3_assets.Asset(self, "WebAppCode", path=str(WEB_APP_DIR), exclude=["__pycache__", "*.pyc"])
        # Exactly the one object the instances need, not the whole assets bucket.
        web.instance_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[app.bucket.arn_for_objects(app.s3_object_key)]
            )
        )
        data.secret.grant_read(web.instance_role)
        data.cache.grant_connect(web.instance_role)
        install_app(
            user_data,
            app,
            {
                "APP_PORT": str(APP_PORT),
                "AWS_REGION": Aws.REGION,
                "DB_WRITER_HOST": data.proxy.endpoint,
                "DB_READER_HOSTS": Fn.join(",", data.replica_endpoints) if data.replicas else "",
                "DB_WRITER_PORT": str(data.proxy_port),
                "DB_READER_PORT": str(data.database_port),
                "DB_NAME": data.database_name,
                "DB_SECRET_ARN": data.secret.secret_arn,
                "DB_SSLMODE": "verify-full",
                "DB_SSLROOTCERT": "/opt/web_app/ca.pem",
                "CACHE_HOST": data.cache.endpoint.host,
                "CACHE_PORT": data.cache.endpoint.port,
                "CACHE_TLS": "1",
                "CACHE_AUTH": "iam",
                "CACHE_USER": data.cache.user_id,
                "CACHE_REPLICATION_GROUP_ID": data.cache.replication_group.ref,
            },
        )
        self.network, self.data, self.web, self.alarm_topic = network, data, web, alarm_topic
        CfnOutput(self, "Url", value=web.url)
        CfnOutput(self, "AlarmTopicArn", value=alarm_topic.topic_arn)
        CfnOutput(self, "ScalingNotificationsTopicArn", value=web.notification_topic.topic_arn)
        CfnOutput(self, "WriterProxyEndpoint", value=data.proxy.endpoint)
        CfnOutput(self, "AutoScalingGroupName", value=web.auto_scaling_group.auto_scaling_group_name)

    @property
    def availability_zones(self) -> list[str]:
        """The region's AZs as deploy-time tokens (Network picks its first N).

        Stack's own getter would, in an environment-agnostic stack, acknowledge cfn-lint's
        literal-AZ warning on the whole stack; the kit allows no stack-wide acknowledgement.
        """
        return [Fn.select(i, Fn.get_azs()) for i in range(MAX_AZS)]

    def _certificate(self, profile: Profile) -> acm.ICertificate | None:
        """From context `certificate_arn`; in production without it, a deploy-time parameter
        (production serves HTTPS only, and the stack stays environment-agnostic)."""
        arn = self.node.try_get_context("certificate_arn")
        if arn is None and profile.is_production:
            arn = CfnParameter(
                self,
                "CertificateArn",
                description="ARN of the ACM certificate the load balancer serves HTTPS with",
                allowed_pattern=r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+",
            ).value_as_string
        if arn is None:
            return None
        return acm.Certificate.from_certificate_arn(self, "Certificate", str(arn))


def install_app(user_data: ec2.UserData, app: s3_assets.Asset, environment: dict[str, str]) -> None:
    """User data: fetch the app, install its dependencies, run it as a systemd service."""
    archive = user_data.add_s3_download_command(
        bucket=app.bucket, bucket_key=app.s3_object_key, local_file="/tmp/web_app.zip"
    )
    env_lines = "\n".join(f"{name}={value}" for name, value in environment.items())
    user_data.add_commands(
        "set -euo pipefail",
        "dnf install -y python3.11 python3.11-pip unzip",
        "mkdir -p /opt/web_app",
        f"unzip -o {archive} -d /opt/web_app",
        # RDS's CA bundle next to the system's: replicas present RDS certificates, the proxy an
        # Amazon-issued one, and libpq verifies both against one file.
        f"curl -fsS {RDS_CA_BUNDLE} | cat /etc/pki/tls/certs/ca-bundle.crt - > /opt/web_app/ca.pem",
        "python3.11 -m venv /opt/web_app/venv",
        "/opt/web_app/venv/bin/pip install --quiet -r /opt/web_app/requirements.txt",
        f"cat > /etc/web_app.env <<'ENV'\n{env_lines}\nENV",
        "install -m 0644 /opt/web_app/web_app.service /etc/systemd/system/web_app.service",
        "systemctl daemon-reload",
        "systemctl enable --now web_app.service",
    )
