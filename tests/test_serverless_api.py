"""ServerlessApi: the synthesized orders API stack in both profiles, and the construct's props."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Template

from patterns.serverless_api import Route, ServerlessApi, TableIndex, json_schema
from stacks.paths import lambda_dir
from tests.kit import PROFILES, bare_stack, one, path_of, resolve_ref, resources, template_json

STACK = "ServerlessApi"
SCHEMAS = json.loads((Path(lambda_dir("orders_api")) / "schemas.json").read_text())
ROUTES = {
    ("POST", "/orders"),
    ("GET", "/orders"),
    ("GET", "/orders/{id}"),
    ("PUT", "/orders/{id}"),
    ("DELETE", "/orders/{id}"),
}


def doc(profile: str) -> dict[str, Any]:
    return template_json(STACK, profile)


def methods(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Methods by (verb, path), the path rebuilt from the method's construct path."""
    found = {}
    for _, method in resources(document, "AWS::ApiGateway::Method"):
        parts = path_of(method).split("/Api/Default/", 1)[1].split("/")[:-2]
        found[(method["Properties"]["HttpMethod"], "/" + "/".join(parts))] = method["Properties"]
    return found


@pytest.mark.parametrize("profile", PROFILES)
def test_every_route_exists_and_no_cors_preflight_without_allowed_origins(profile: str) -> None:
    """Only declared routes exist: API Gateway answers any other method or path itself
    (MISSING_AUTHENTICATION_TOKEN, 403) without invoking the function, and an OPTIONS method
    would be callable without a token (API Gateway Developer Guide, "Gateway response types
    for API Gateway"; "Enabling CORS for a REST API resource")."""
    assert set(methods(doc(profile))) == ROUTES


@pytest.mark.parametrize("profile", PROFILES)
def test_every_method_requires_a_token_from_the_stacks_user_pool(profile: str) -> None:
    """API Gateway authorizes per method: one method left at AuthorizationType NONE is public
    whatever the others do (API Gateway Developer Guide, "Control access to REST APIs using
    Amazon Cognito user pools as an authorizer"; OWASP API2:2023 broken authentication)."""
    document = doc(profile)
    authorizer_id, authorizer = one(document, "AWS::ApiGateway::Authorizer", "Orders/Authorizer")
    pool_id, _ = one(document, "AWS::Cognito::UserPool", "Orders/Users")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert [resolve_ref(document, arn) for arn in authorizer["Properties"]["ProviderARNs"]] == [pool_id]
    for route, method in methods(document).items():
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS", route
        assert resolve_ref(document, method["AuthorizerId"]) == authorizer_id, route


@pytest.mark.parametrize("profile", PROFILES)
def test_every_method_validates_its_parameters_and_bodies_against_the_handlers_schemas(profile: str) -> None:
    """API Gateway checks a body only against the model mapped to the request's content type, and
    only on methods with a validator that has ValidateRequestBody; required parameters only
    with ValidateRequestParameters (API Gateway Developer Guide, "Request validation for REST
    APIs in API Gateway")."""
    document = doc(profile)
    validator_id, validator = one(document, "AWS::ApiGateway::RequestValidator", "Orders/Api/Validator")
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True
    found = methods(document)
    for route, method in found.items():
        assert resolve_ref(document, method["RequestValidatorId"]) == validator_id, route
    models = {
        logical_id: model["Properties"] for logical_id, model in resources(document, "AWS::ApiGateway::Model")
    }
    for route, schema in ((("POST", "/orders"), "createOrder"), (("PUT", "/orders/{id}"), "updateOrder")):
        model = models[resolve_ref(document, found[route]["RequestModels"]["application/json"])]
        assert model["ContentType"] == "application/json"
        assert model["Schema"] == SCHEMAS[schema], f"{route} model differs from schemas.json"
    assert found[("POST", "/orders")]["RequestParameters"] == {"method.request.header.Idempotency-Key": True}
    assert found[("GET", "/orders")]["RequestParameters"] == {
        "method.request.querystring.limit": False,
        "method.request.querystring.cursor": False,
    }
    for verb in ("GET", "PUT", "DELETE"):
        assert found[(verb, "/orders/{id}")]["RequestParameters"] == {"method.request.path.id": True}


@pytest.mark.parametrize("profile", PROFILES)
def test_the_stage_is_throttled_traced_and_logs_json_access_and_execution_logs(profile: str) -> None:
    """Data tracing logs full requests and responses, tokens included, and AWS recommends against it
    in production; execution logs go to API-Gateway-Execution-Logs_{rest-api-id}/{stage}, which
    API Gateway creates itself, never expiring, unless it exists first (API Gateway Developer
    Guide, "Set up CloudWatch logging for REST APIs in API Gateway")."""
    document = doc(profile)
    _, stage = one(document, "AWS::ApiGateway::Stage", "Orders/Api/DeploymentStage")
    properties = stage["Properties"]
    assert properties["TracingEnabled"] is True
    [settings] = properties["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["ThrottlingRateLimit"] == 50 and settings["ThrottlingBurstLimit"] == 100
    assert settings["LoggingLevel"] == "INFO" and settings["MetricsEnabled"] is True
    assert settings["DataTraceEnabled"] is False
    access_format = json.loads(properties["AccessLogSetting"]["Format"])
    assert {"requestId", "caller", "status", "resourcePath", "integrationLatency"} <= set(access_format)
    retention = 7 if profile == "sandbox" else 365
    access_id, access = one(document, "AWS::Logs::LogGroup", "Orders/AccessLogs")
    assert {"Ref": access_id} in properties["AccessLogSetting"]["DestinationArn"]["Fn::Join"][1]
    execution_id, execution = one(document, "AWS::Logs::LogGroup", "Orders/ExecutionLogs")
    assert access["Properties"]["RetentionInDays"] == execution["Properties"]["RetentionInDays"] == retention
    name = execution["Properties"]["LogGroupName"]["Fn::Join"][1]
    api_id, _ = one(document, "AWS::ApiGateway::RestApi", "Orders/Api")
    assert name == ["API-Gateway-Execution-Logs_", {"Ref": api_id}, "/v1"]
    assert execution_id in stage["DependsOn"], "the stage must not create the group before the stack does"


@pytest.mark.parametrize("profile", PROFILES)
def test_a_usage_plan_throttles_the_stage(profile: str) -> None:
    """Usage plan throttling applies to the callers of API keys on the stage, beside the stage's own
    limits (API Gateway Developer Guide, "Throttle requests to your REST APIs for better
    throughput in API Gateway")."""
    document = doc(profile)
    _, plan = one(document, "AWS::ApiGateway::UsagePlan", "Orders/Api/UsagePlan")
    stage_id, _ = one(document, "AWS::ApiGateway::Stage", "Orders/Api/DeploymentStage")
    assert plan["Properties"]["Throttle"] == {"RateLimit": 50, "BurstLimit": 100}
    [api_stage] = plan["Properties"]["ApiStages"]
    assert resolve_ref(document, api_stage["Stage"]) == stage_id


@pytest.mark.parametrize("profile", PROFILES)
def test_api_gateway_errors_use_the_handlers_json_error_shape(profile: str) -> None:
    """Errors API Gateway raises itself (401, 403, 429, 400 from validation) never reach the function;
    only gateway responses (DEFAULT_4XX, DEFAULT_5XX) shape them (API Gateway Developer Guide,
    "Gateway responses for REST APIs in API Gateway")."""
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for _, r in resources(doc(profile), "AWS::ApiGateway::GatewayResponse")
    }
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        template = response["ResponseTemplates"]["application/json"]
        sample = template.replace("$context.error.messageString", '"Unauthorized"').replace("$context.", "")
        assert set(json.loads(sample)) == {"error", "requestId"}


@pytest.mark.parametrize("profile", PROFILES)
def test_the_handler_is_current_arm64_traced_and_granted_only_its_table_and_index(profile: str) -> None:
    """Least privilege: a global secondary index is its own resource, table/<name>/index/<index>, so
    granting the table alone would not allow querying it and index/* would allow every index
    (DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained access control";
    IAM User Guide, "Security best practices in IAM")."""
    document = doc(profile)
    function_id, function = one(document, "AWS::Lambda::Function", "Orders/Handler/Function")
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.14" and properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    table_id, _ = one(document, "AWS::DynamoDB::GlobalTable", "Orders/Table")
    environment = properties["Environment"]["Variables"]
    assert resolve_ref(document, environment["TABLE_NAME"]) == table_id
    assert not [name for name in environment if any(w in name for w in ("SECRET", "PASSWORD", "TOKEN"))]
    _, policy = one(document, "AWS::IAM::Policy", "Orders/Handler/Role")
    [table_statement] = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "dynamodb:Query" in s["Action"]
    ]
    assert all(action.startswith("dynamodb:") and "*" not in action for action in table_statement["Action"])
    assert table_statement["Resource"][0] == {"Fn::GetAtt": [table_id, "Arn"]}
    assert table_statement["Resource"][1]["Fn::Join"][1][1] == "/index/byOwner"
    permissions = list(resources(document, "AWS::Lambda::Permission", "Orders/Api"))
    assert len(permissions) == len(ROUTES)
    # What API Gateway may invoke: the function, or the `live` alias on its published version
    # where SnapStart is on (production's default: tests/test_serverless_api_snap_start.py).
    aliases = [alias_id for alias_id, _ in resources(document, "AWS::Lambda::Alias", "Orders/Handler/Live")]
    invoked = aliases[0] if profile == "production" else function_id
    assert aliases == ([invoked] if profile == "production" else [])
    assert all(resolve_ref(document, p["Properties"]["FunctionName"]) == invoked for _, p in permissions)


@pytest.mark.parametrize("profile", PROFILES)
def test_the_table_is_on_demand_encrypted_recoverable_and_kept_in_production(profile: str) -> None:
    """TTL deletes expired idempotency markers only lazily (DynamoDB Developer Guide, "Using time to
    live"), point-in-time recovery restores to any second of up to 35 days ("Point-in-time recovery
    for DynamoDB"), deletion protection refuses DeleteTable ("Using deletion protection")."""
    _, table = one(doc(profile), "AWS::DynamoDB::GlobalTable", "Orders/Table")
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"]["SSEEnabled"] is True
    [replica] = properties["Replicas"]
    assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    [index] = properties["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "byOwner"
    assert [key["AttributeName"] for key in index["KeySchema"]] == ["ownerId", "createdAt"]
    production = profile == "production"
    assert table["DeletionPolicy"] == ("Retain" if production else "Delete")
    assert replica["DeletionProtectionEnabled"] is production


@pytest.mark.parametrize("profile", PROFILES)
def test_the_user_pool_is_invite_only_strong_threat_protected_and_mfa_in_production(profile: str) -> None:
    """Cognito threat protection (compromised credentials, adaptive authentication) needs the Plus
    feature plan and ENFORCED mode to act rather than only report (Amazon Cognito Developer
    Guide, "Advanced security with threat protection"); OWASP Authentication Cheat Sheet on
    password length and MFA."""
    _, pool = one(doc(profile), "AWS::Cognito::UserPool", "Orders/Users")
    properties = pool["Properties"]
    assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    policy = properties["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols"))
    assert properties["UserPoolTier"] == "PLUS"
    assert properties["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    production = profile == "production"
    assert properties["MfaConfiguration"] == ("ON" if production else "OPTIONAL")
    assert properties["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["DeletionPolicy"] == ("Retain" if production else "Delete")
    assert properties.get("DeletionProtection") == ("ACTIVE" if production else None)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_web_acl_with_aws_managed_rules_guards_the_stage_only_in_production(profile: str) -> None:
    """A REST API stage takes a REGIONAL web ACL (AWS WAF Developer Guide, "Resources that you can
    protect with AWS WAF"); the core rule set and known bad inputs rule group cover the OWASP
    Top 10 style attacks ("AWS Managed Rules rule groups list")."""
    document = doc(profile)
    acls = list(resources(document, "AWS::WAFv2::WebACL"))
    if profile == "sandbox":
        assert acls == [] and list(resources(document, "AWS::WAFv2::WebACLAssociation")) == []
        return
    [(acl_id, acl)] = acls
    groups = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in acl["Properties"]["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= groups
    assert acl["Properties"]["Scope"] == "REGIONAL"
    _, association = one(document, "AWS::WAFv2::WebACLAssociation", "Orders")
    assert resolve_ref(document, association["Properties"]["WebACLArn"]) == acl_id
    stage_id, _ = one(document, "AWS::ApiGateway::Stage", "Orders/Api/DeploymentStage")
    assert {"Ref": stage_id} in association["Properties"]["ResourceArn"]["Fn::Join"][1]


@pytest.mark.parametrize("profile", PROFILES)
def test_errors_slowness_and_failed_invocations_raise_alarms_to_a_topic(profile: str) -> None:
    """API Gateway publishes 5XXError, Latency and Count per API (API Gateway Developer Guide,
    "Amazon API Gateway dimensions and metrics"); Lambda publishes Errors per function."""
    document = doc(profile)
    topic_id, _ = one(document, "AWS::SNS::Topic", "Orders/AlarmTopic")
    alarms = {
        path_of(a).split("/")[-2]: a["Properties"] for _, a in resources(document, "AWS::CloudWatch::Alarm")
    }
    assert set(alarms) == {"ServerErrors", "HandlerErrors", "SlowResponses"}
    assert alarms["ServerErrors"]["MetricName"] == "5XXError"
    for alarm in alarms.values():
        assert [resolve_ref(document, action) for action in alarm["AlarmActions"]] == [topic_id]


# The construct on its own, with its props.


def routes() -> list[Route]:
    return [
        Route("POST", "/things", body_schema={"type": "object", "required": ["name"]}),
        Route("GET", "/things/{thingId}", headers={"X-Trace": False}),
    ]


def build(stack: cdk.Stack | None = None, **props: Any) -> tuple[cdk.Stack, ServerlessApi]:
    stack = stack or bare_stack()
    arguments: dict[str, Any] = {
        "code_dir": lambda_dir("orders_api"),
        "handler": "app.handler",
        "routes": routes(),
    }
    api = ServerlessApi(stack, "Things", **{**arguments, **props})
    return stack, api


def test_required_props_alone_make_a_secure_api_that_passes_the_security_gate() -> None:
    stack, api = build()
    template = Template.from_stack(stack)  # raises on any unacknowledged nag finding
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    template.resource_count_is("AWS::Cognito::UserPool", 1)
    template.resource_count_is("AWS::ApiGateway::Method", 2)
    assert api.user_pool_client is not None and api.web_acl is None
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable", {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    )


def test_allowed_origins_add_preflight_and_cors_headers_and_still_pass_the_gate() -> None:
    origin = "https://shop.example.com"
    stack, _ = build(cors_allowed_origins=[origin])
    document = Template.from_stack(stack).to_json()
    options = [
        m
        for _, m in resources(document, "AWS::ApiGateway::Method")
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert len(options) == 3  # /, /things, /things/{thingId}
    for method in options:
        parameters = method["Properties"]["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        assert parameters["method.response.header.Access-Control-Allow-Origin"] == f"'{origin}'"
        assert "X-Trace" in parameters["method.response.header.Access-Control-Allow-Headers"]
    for _, response in resources(document, "AWS::ApiGateway::GatewayResponse"):
        assert response["Properties"]["ResponseParameters"] == {
            "gatewayresponse.header.Access-Control-Allow-Origin": f"'{origin}'"
        }
    _, function = one(document, "AWS::Lambda::Function", "Things/Handler")
    assert function["Properties"]["Environment"]["Variables"]["CORS_ALLOWED_ORIGINS"] == origin


def test_an_existing_user_pool_and_table_are_used_not_created() -> None:
    stack = bare_stack()
    pool = cognito.UserPool.from_user_pool_id(stack, "Existing", "eu-west-1_AbCdEf123")
    table = dynamodb.TableV2.from_table_name(stack, "ExistingTable", "things")
    _, api = build(stack, user_pool=pool, table=table, table_indexes=[TableIndex("byOwner", "ownerId")])
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    template.resource_count_is("AWS::Cognito::UserPoolClient", 0)
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 0)
    assert api.user_pool_client is None
    authorizer = next(iter(template.find_resources("AWS::ApiGateway::Authorizer").values()))
    assert "eu-west-1_AbCdEf123" in json.dumps(authorizer["Properties"]["ProviderARNs"])
    policy = json.dumps(template.find_resources("AWS::IAM::Policy"))
    assert ":table/things" in policy and "/index/byOwner" in policy


def test_the_web_acl_follows_the_prop_over_the_profile() -> None:
    stack, api = build(web_acl=True)
    Template.from_stack(stack).resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
    assert api.web_acl is not None
    production = bare_stack({"profile": "production"})
    urls = ["https://shop.example.io/"]
    _, without = build(production, web_acl=False, callback_urls=urls, logout_urls=urls)
    Template.from_stack(production).resource_count_is("AWS::WAFv2::WebACL", 0)
    assert without.web_acl is None


def test_api_keys_can_be_required_with_a_daily_quota_per_key() -> None:
    stack, api = build(api_key_required=True, daily_quota_per_api_key=1000)
    template = Template.from_stack(stack)
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        assert method["Properties"]["ApiKeyRequired"] is True
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan", {"Quota": {"Limit": 1000, "Period": "DAY"}}
    )
    assert api.usage_plan is not None


BAD_PROPS: list[tuple[dict[str, Any], str]] = [
    ({"cors_allowed_origins": ["*"]}, r"cors_allowed_origins: '\*' is refused"),
    ({"cors_allowed_origins": ["http://shop.example.com"]}, "cors_allowed_origins: 'http://shop"),
    ({"cors_allowed_origins": ["https://shop.example.com/app"]}, "cors_allowed_origins: .* no path"),
    ({"cors_allowed_origins": "https://shop.example.com"}, "cors_allowed_origins: expected a list, got str"),
    ({"timeout": cdk.Duration.seconds(30)}, "timeout: API Gateway waits at most 29 s"),
    ({"routes": []}, "routes: give at least one Route"),
    ({"routes": [Route("GET", "/a"), Route("GET", "/a")]}, "routes: GET /a: declared twice"),
    (
        {"routes": [Route("GET", "/a", body_schema={"type": "object"})]},
        "routes: GET /a: a GET request has no body",
    ),
    ({"routes": [Route("POST", "/a")]}, "routes: POST /a: give a body_schema"),
    ({"routes": [Route("GET", "a/b")]}, "routes: GET a/b: path must look like"),
    ({"routes": [Route("TRACE", "/a")]}, "routes: TRACE /a: method must be one of"),
    (
        {"routes": [Route("GET", "/a", query_parameters={"bad name": True})]},
        "'bad name' is not a valid parameter",
    ),
    (
        {"routes": [Route("POST", "/a", body_schema={"type": "object", "oneOf": []})]},
        "routes: POST /a: body_schema: JSON-schema keyword 'oneOf' is not supported",
    ),
    ({"stage_name": "prod-1"}, "stage_name: letters, digits and _ only"),
    ({"throttling_rate_limit": 100, "throttling_burst_limit": 10}, "throttling_burst_limit: 10 is below"),
    ({"throttling_rate_limit": 0}, "throttling_rate_limit: rate and burst limits must both be at least 1"),
    ({"mfa_required": True, "user_pool": "placeholder"}, "mfa_required: an existing user_pool"),
    (
        {"table": "placeholder", "table_time_to_live_attribute": "ttl"},
        "table: given together with table_time_to_live_attribute",
    ),
    ({"table_actions": ["dynamodb:*"]}, r"table_actions: 'dynamodb:\*' is not one DynamoDB action"),
    ({"table_actions": ["s3:GetObject"]}, "table_actions: 's3:GetObject'"),
    ({"waf_rate_limit_per_ip": 5}, "waf_rate_limit_per_ip: WAF allows 10 or more"),
    ({"max_body_bytes": 0}, "max_body_bytes: must be between"),
    ({"daily_quota_per_api_key": 0, "api_key_required": True}, "daily_quota_per_api_key: must be at least 1"),
    ({"daily_quota_per_api_key": 1000}, "daily_quota_per_api_key: quotas count requests per API key"),
]


@pytest.mark.parametrize(("props", "message"), BAD_PROPS, ids=[m.split(":")[0] for _, m in BAD_PROPS])
def test_contradictory_or_invalid_props_fail_at_synth_naming_the_prop(
    props: dict[str, Any], message: str
) -> None:
    stack = bare_stack()
    if props.get("user_pool") == "placeholder":
        props = {
            **props,
            "user_pool": cognito.UserPool.from_user_pool_id(stack, "Pool", "eu-west-1_AbCdEf123"),
        }
    if props.get("table") == "placeholder":
        props = {**props, "table": dynamodb.TableV2.from_table_name(stack, "Table", "things")}
    with pytest.raises(ValueError, match=message):
        build(stack, **props)


def test_a_schema_keyword_api_gateway_models_cannot_take_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"body_schema.properties.a: JSON-schema keyword 'oneOf'"):
        json_schema({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}})
