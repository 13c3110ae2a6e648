"""ValkeyCache alone in an app of your own: a cache your instances authenticate to with IAM."""

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.multi_tier import Network, ValkeyCache  # e.g. myapp.constructs.multi_tier

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Sessions")

network = Network(stack, "Network", interface_endpoints=False)
cache = ValkeyCache(
    stack,
    "Cache",
    vpc=network.vpc,
    replicas=1,  # Multi-AZ with automatic failover
    access_string="on ~session:* -@all +get +set +del +expire",
)

app_role = iam.Role(stack, "AppRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
app_group = ec2.SecurityGroup(stack, "AppGroup", vpc=network.vpc, allow_all_outbound=False)
cache.grant_connect(app_role)  # elasticache:Connect as the cache's user, on this cache only
cache.allow_from(app_group, "app")

cdk.CfnOutput(stack, "CacheHost", value=cache.endpoint.host)
cdk.CfnOutput(stack, "CacheUser", value=cache.user_id)

app.synth()
