"""The Standby constructs in an app of your own: your API in two Regions over one global table,
Route 53 failover between them, the runbook in the standby, the health alarm in us-east-1."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ssm as ssm
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.serverless_api import Route, ServerlessApi
from patterns.shared.defaults import profile_of
from patterns.standby import (  # where you copied it, e.g. myapp.constructs.standby
    FailoverEndpoint,
    FailoverRunbook,
    GlobalTable,
    HealthCheckAlarm,
    RemoteParameter,
    ReplicaKey,
)

ROOT = Path(__file__).resolve().parents[2]
CODE = ROOT / "lambda" / "orders_api"  # your handler; it must answer GET /health with 200
PROBE = ROOT / "lambda" / "failover_probe"  # the runbook's verify step, copied with it
PRIMARY, STANDBY = "eu-west-1", "eu-central-1"
ZONE = {"hosted_zone_id": "Z0EXAMPLE0SHOP0TEST", "zone_name": "shop.test"}
TABLE, KEY_ALIAS, PARAMETER = "shop-orders", "alias/shop-orders", "/shop-orders/primary-health"
ROUTES = [Route("GET", "/orders/{id}")]

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
profile = profile_of(app)

# 1. The replica's key, in the standby Region, before the table names it by alias.
keys = cdk.Stack(app, "ShopStandbyKey", env=cdk.Environment(region=STANDBY))
replica_key = ReplicaKey(keys, "ReplicaKey", profile=profile, alias_name=KEY_ALIAS)

# 2. The primary: the global table, the API over it, the PRIMARY record and its health check.
primary = cdk.Stack(app, "ShopPrimary", env=cdk.Environment(region=PRIMARY))
primary.add_stack_dependency(keys)
orders = GlobalTable(
    primary, "Orders", profile=profile, table_name=TABLE, replica_region=STANDBY, replica_key_alias=KEY_ALIAS
)
api = ServerlessApi(primary, "Api", code_dir=CODE, handler="app.handler", routes=ROUTES, table=orders.table)
orders.key.grant(api.function.role, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
zone = route53.HostedZone.from_hosted_zone_attributes(primary, "Zone", **ZONE)
failover = FailoverEndpoint(
    primary, "Failover", api=api, zone=zone, domain_name="api.shop.test", primary=True
)
assert failover.health_check is not None
ssm.StringListParameter(
    primary,
    "PrimaryHealth",
    parameter_name=PARAMETER,
    string_list_value=[
        failover.health_check.health_check_id,
        failover.health_url,
        failover.health_resource_path,
    ],
)

# 3. The standby: the API over the replica (by name), the SECONDARY record, the runbook.
standby = cdk.Stack(app, "ShopStandby", env=cdk.Environment(region=STANDBY))
standby.add_stack_dependency(primary)
replica = dynamodb.TableV2.from_table_name(standby, "Replica", TABLE)
standby_api = ServerlessApi(
    standby, "Api", code_dir=CODE, handler="app.handler", routes=ROUTES, table=replica
)
replica_key.key.grant(standby_api.function.role, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
standby_zone = route53.HostedZone.from_hosted_zone_attributes(standby, "Zone", **ZONE)
secondary = FailoverEndpoint(
    standby,
    "Failover",
    api=standby_api,
    zone=standby_zone,
    domain_name="api.shop.test",
    primary=False,
    pilot_light=True,
)
# A reader reads on create and when its properties change: change REFRESH whenever the
# primary's check changes or is recreated, or the runbook keeps a deleted check's id.
REFRESH = "primary-check-1"
health = RemoteParameter(
    standby, "PrimaryHealth", profile=profile, region=PRIMARY, parameter_name=PARAMETER, refresh=REFRESH
)
runbook = FailoverRunbook(
    standby,
    "Runbook",
    profile=profile,
    probe_code_dir=str(PROBE),
    primary_health_check_id=cdk.Fn.select(0, cdk.Fn.split(",", health.value)),
    primary_health_path=cdk.Fn.select(2, cdk.Fn.split(",", health.value)),  # failback restores it
    primary_health_url=cdk.Fn.select(1, cdk.Fn.split(",", health.value)),
    standby_health_url=secondary.health_url,
    standby_functions=[standby_api.function.function],
)

# 4. us-east-1: the alarm on the primary's health check (Route 53's metrics are only there).
monitor = cdk.Stack(app, "ShopStandbyMonitor", env=cdk.Environment(region="us-east-1"))
monitor.add_stack_dependency(primary)
check = RemoteParameter(
    monitor, "PrimaryHealth", profile=profile, region=PRIMARY, parameter_name=PARAMETER, refresh=REFRESH
)
alarm = HealthCheckAlarm(
    monitor,
    "PrimaryHealthAlarm",
    profile=profile,
    health_check_id=cdk.Fn.select(0, cdk.Fn.split(",", check.value)),
    description="api.shop.test: the primary fails its health check; start the runbook",
)

app.synth()
