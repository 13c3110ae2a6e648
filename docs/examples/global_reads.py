"""CrossRegionReplica and LatencyRecord in an app of your own: your app's reads served in Tokyo
from a replica of a writer in Virginia, and Tokyo's load balancer in a latency-routed name."""

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_route53 as route53
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.global_reads import CrossRegionReplica, LatencyRecord  # e.g. myapp.constructs.global_reads
from patterns.multi_tier import Network, WebTier

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "ShopTokyo", env=cdk.Environment(region="ap-northeast-1"))

network = Network(stack, "Network", interface_endpoints=False)
replica = CrossRegionReplica(
    stack,
    "Replica",
    vpc=network.vpc,
    source_region="us-east-1",
    source_instance_identifier="shop-writer",  # your writer's DBInstanceIdentifier
    max_lag=cdk.Duration.seconds(30),
)

user_data = ec2.UserData.for_linux()
user_data.add_commands("dnf install -y nginx", "systemctl enable --now nginx")  # your read-only app here
web = WebTier(stack, "Web", vpc=network.vpc, user_data=user_data)
replica.allow_from(web.auto_scaling_group, "web instances")

zone = route53.HostedZone.from_hosted_zone_attributes(
    stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ", zone_name="shop.example.com"
)
latency = LatencyRecord(
    stack,
    "Latency",
    zone=zone,
    record_name="shop.example.com",
    load_balancer=web.load_balancer,
    region="ap-northeast-1",
    https=False,  # True with a certificate on the load balancer
)

cdk.CfnOutput(stack, "ReplicaEndpoint", value=replica.endpoint_address)
cdk.CfnOutput(stack, "HealthCheckId", value=latency.health_check.health_check_id)

app.synth()
