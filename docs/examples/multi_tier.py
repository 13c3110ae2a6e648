"""Network, DataTier and WebTier in an app of your own: your app on instances behind a load
balancer, reaching PostgreSQL through RDS Proxy, its read replicas and a Valkey cache."""

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.multi_tier import DataTier, Network, WebTier  # e.g. myapp.constructs.multi_tier

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Shop")

network = Network(stack, "Network", az_count=2, cidr="10.20.0.0/16")
data = DataTier(
    stack,
    "Data",
    vpc=network.vpc,
    database_name="shop",
    instance_type=ec2.InstanceType("t4g.small"),  # "db.t4g.small" works too
    read_replicas=1,
    secrets_manager_endpoint=network.endpoints["SecretsManager"],
)

user_data = ec2.UserData.for_linux()
user_data.add_commands("dnf install -y nginx", "systemctl enable --now nginx")  # your app here
web = WebTier(
    stack,
    "Web",
    vpc=network.vpc,
    user_data=user_data,
    instance_type=ec2.InstanceType("t3.small"),  # x86: the Amazon Linux image follows it
    app_port=8080,
)
data.allow_from(web.auto_scaling_group, "web instances")  # proxy, replicas and cache; never the writer
data.secret.grant_read(web.instance_role)
data.cache.grant_connect(web.instance_role)

cdk.CfnOutput(stack, "Url", value=web.url)
cdk.CfnOutput(stack, "ProxyEndpoint", value=data.proxy.endpoint)
cdk.CfnOutput(stack, "ReplicaEndpoints", value=cdk.Fn.join(",", data.replica_endpoints))

app.synth()
