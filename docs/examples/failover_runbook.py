"""FailoverRunbook in an app of your own: in the standby Region, the runbook that promotes your
pilot-light functions, shifts traffic off the primary's failover record and verifies."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.shared import PythonFunction
from patterns.shared.defaults import profile_of
from patterns.standby import FailoverRunbook  # where you copied it, e.g. myapp.constructs.standby

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "lambda" / "failover_probe"  # the runbook's verify step, copied with it
CODE = ROOT / "lambda" / "orders_api"  # your API's handler folder; here the kit's demo
PRIMARY_HEALTH_URL = "https://api.eu-west-1.example.com/health"
STANDBY_HEALTH_URL = "https://api.eu-central-1.example.com/health"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
profile = profile_of(app)
stack = cdk.Stack(app, "ShopStandby", env=cdk.Environment(region="eu-central-1"))

# The health check the primary's failover record carries (Route 53 is global).
primary_check = route53.CfnHealthCheck(
    stack,
    "PrimaryHealth",
    health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
        type="HTTPS",
        fully_qualified_domain_name="api.eu-west-1.example.com",
        resource_path="/health",
        request_interval=30,
        failure_threshold=3,
    ),
)
# The standby's API function, held at reserved concurrency 0 until the runbook promotes it.
standby_api = PythonFunction(
    stack,
    "OrdersApi",
    code_dir=str(CODE),
    handler="app.handler",
    profile=profile,
    service_name="orders-api",
    invoked_synchronously_by="API Gateway",
)
cfn_function = standby_api.function.node.default_child
assert isinstance(cfn_function, lambda_.CfnFunction)
cfn_function.reserved_concurrent_executions = 0  # the pilot light: throttled until promoted

runbook = FailoverRunbook(
    stack,
    "Runbook",
    profile=profile,
    probe_code_dir=str(PROBE),
    primary_health_check_id=primary_check.attr_health_check_id,
    primary_health_path="/health",  # the check's resource_path, restored on failback
    primary_health_url=PRIMARY_HEALTH_URL,
    standby_health_url=STANDBY_HEALTH_URL,
    standby_functions=[standby_api.function],
)
cdk.CfnOutput(stack, "RunbookArn", value=runbook.state_machine.state_machine_arn)

app.synth()
