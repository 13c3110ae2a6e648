"""Serverless API: a REST API in API Gateway, callers signed in with Cognito, requests handled by
one Lambda function (your code, routing inside it), data in a DynamoDB table. Nothing runs idle.

Secure by default: every method needs a Cognito token and validates its parameters and body
against your JSON schemas before your code runs; the stage is throttled, traced with X-Ray, and
writes JSON access logs and execution logs into log groups the stack owns; errors API Gateway
raises itself come back in the same JSON shape your handler uses; CORS is off unless you name
the origins; in production a WAF web ACL with AWS managed rules guards the stage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Aws, Duration, Stack, Token
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from ..shared.backup import mark_for_backup
from ..shared.defaults import (
    AT_LEAST,
    Profile,
    acknowledge,
    log_group,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
)
from ..shared.props import exclusive, expect, one_of, sequence, whole_seconds, within
from ..shared.python_function import PythonFunction, check_environment
from ..shared.tables import on_demand_table
from . import protection as api_protection
from .account_logging import AccountLogging, account_logging
from .routes import Route, TableIndex, check_routes, json_schema

DEFAULT_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
)
DEFAULT_PARTITION_KEY = "id"
# DynamoDB actions on a table or its indexes (Service Authorization Reference, Amazon
# DynamoDB): what a handler may be granted; control-plane actions are the stack's business.
TABLE_DATA_ACTIONS = frozenset(
    f"dynamodb:{action}"
    for action in (
        "BatchGetItem",
        "BatchWriteItem",
        "ConditionCheckItem",
        "DeleteItem",
        "DescribeTable",
        "GetItem",
        "PartiQLDelete",
        "PartiQLInsert",
        "PartiQLSelect",
        "PartiQLUpdate",
        "PutItem",
        "Query",
        "Scan",
        "UpdateItem",
    )
)
CONSTRUCT_ENVIRONMENT = {
    "TABLE_NAME": "table",
    "CORS_ALLOWED_ORIGINS": "cors_allowed_origins",
    "MAX_BODY_BYTES": "max_body_bytes",
    "POWERTOOLS_SERVICE_NAME": "service_name",
}
"""Variables the construct sets for the handler, and the prop that sets each."""
INTEGRATION_TIMEOUT_SECONDS = 29  # API Gateway's default maximum wait for a Lambda integration
STAGE_NAME = re.compile(r"^[A-Za-z0-9_]{1,128}$")
# Cognito domain prefixes: lower-case letters, digits and hyphens, no reserved words.
DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_IN_DOMAIN = ("aws", "amazon", "cognito")
ORIGIN = re.compile(r"^(https://[A-Za-z0-9.-]+|http://localhost|http://127\.0\.0\.1)(:[0-9]{1,5})?$")
ERROR_TEMPLATE = (
    '{"error":{"code":"$context.error.responseType","message":$context.error.messageString},'
    '"requestId":"$context.requestId"}'
)
PREFLIGHT_REASON = (
    "CORS preflight (OPTIONS) is answered by API Gateway itself with a mock integration; "
    "browsers never send credentials on a preflight, so it cannot require a Cognito token."
)
SYNCHRONOUS_REASON = (
    "API Gateway invokes this function synchronously and returns its error to the caller; "
    "a dead-letter queue applies only to asynchronous invocations."
)
NO_WAF_REASON = (
    "This stage has no web ACL because web_acl is off (the sandbox default; production turns it "
    "on unless web_acl=False is passed): a web ACL bills a fixed monthly fee even idle; callers "
    "still need a Cognito token, inputs are validated and the stage is throttled."
)


class ServerlessApi(Construct):
    """A REST API whose `routes` all go to one Python function from `code_dir`.

    The Cognito authorizer proves who the caller is; what that caller may touch is the handler's
    decision, made on the claims API Gateway passes in `requestContext.authorizer.claims`
    (`sub`, `cognito:groups`, ...). Object-level authorization belongs in the handler (OWASP
    API1:2023) because only the handler knows whose object a request names.

    Attributes:
        profile: the profile the API was built with.
        table: the table the handler reads and writes (yours, or the new one).
        function: the handler (a PythonFunction: its `function`, `role`, `log_group`).
        user_pool: the pool whose tokens the authorizer accepts (yours, or the new one).
        user_pool_client: the public app client of the new pool; None for an existing pool.
        user_pool_domain: the hosted sign-in domain of the new pool; None for an existing pool.
        authorizer: the Cognito authorizer every method uses.
        access_logs: the log group of the stage's JSON access logs.
        api: the REST API.
        stage: its deployment stage (throttled, traced, logging).
        url: the stage's URL.
        account_logging: the stack's API Gateway account logging role (shared by every
            ServerlessApi of the stack); None with set_account_logging_role=False.
        execution_logs: the log group API Gateway writes the stage's execution logs to.
        request_validator: validates parameters and bodies before the handler runs.
        usage_plan: throttle (and quota) for API keys; add keys to it.
        web_acl: the WAF web ACL on the stage; None without WAF.
        alarm_topic: where the alarms notify (yours, or the new one).
        alarms: server errors, handler errors and p99 latency.
    """

    profile: Profile
    table: dynamodb.ITable
    function: PythonFunction
    user_pool: cognito.IUserPool
    user_pool_client: cognito.UserPoolClient | None
    user_pool_domain: cognito.UserPoolDomain | None
    authorizer: apigateway.CognitoUserPoolsAuthorizer
    access_logs: logs.LogGroup
    api: apigateway.RestApi
    stage: apigateway.Stage
    url: str
    account_logging: AccountLogging | None
    execution_logs: logs.LogGroup
    request_validator: apigateway.RequestValidator
    usage_plan: apigateway.UsagePlan
    web_acl: wafv2.CfnWebACL | None
    alarm_topic: sns.ITopic
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_dir: str | Path,
        handler: str,
        routes: Sequence[Route],
        service_name: str | None = None,
        environment: Mapping[str, str] | None = None,
        timeout: Duration = Duration.seconds(10),
        memory_size: int = 512,
        table: dynamodb.ITable | None = None,
        table_partition_key: str | None = None,
        table_indexes: Sequence[TableIndex] = (),
        table_time_to_live_attribute: str | None = None,
        table_actions: Sequence[str] = DEFAULT_TABLE_ACTIONS,
        user_pool: cognito.IUserPool | None = None,
        mfa_required: bool | None = None,
        callback_urls: Sequence[str] = (),
        logout_urls: Sequence[str] = (),
        auth_domain_prefix: str | None = None,
        cors_allowed_origins: Sequence[str] = (),
        stage_name: str = "v1",
        throttling_rate_limit: int = 50,
        throttling_burst_limit: int = 100,
        daily_quota_per_api_key: int | None = None,
        api_key_required: bool = False,
        web_acl: bool | None = None,
        waf_rate_limit_per_ip: int = 2000,
        set_account_logging_role: bool = True,
        max_body_bytes: int = 8192,
        latency_alarm: Duration = Duration.seconds(3),
        alarm_topic: sns.ITopic | None = None,
        profile: Profile | None = None,
        snap_start: bool | None = None,
    ) -> None:
        """Build the API, its handler, table, user pool and alarms.

        Args:
            code_dir: the folder of the handler's code.
            handler: the handler as `module.function`.
            routes: `Route(method, path, body_schema=, query_parameters=, headers=)`, at least
                one; every POST/PUT/PATCH needs a `body_schema`; path parameters are required.
            service_name: the Powertools service name; default: the construct id, lower case.
            environment: extra variables for the handler (never secrets); TABLE_NAME,
                CORS_ALLOWED_ORIGINS, MAX_BODY_BYTES and POWERTOOLS_SERVICE_NAME are set by
                the construct, and those and the names the Lambda runtime reserves are refused.
            timeout: the handler's timeout, 1-29 s (API Gateway waits 29 s at most); default 10 s.
            memory_size: the handler's memory, 128-10240 MB; default 512 MB.
            table: an existing table (`Table` or `TableV2`) instead of a new one; excludes
                table_partition_key and table_time_to_live_attribute.
            table_partition_key: the new table's partition key (a string); default `id`.
            table_indexes: global secondary indexes to create (new table) or to grant
                (existing table); default none.
            table_time_to_live_attribute: the new table's TTL attribute; default none.
            table_actions: the DynamoDB actions the handler gets on the table and its indexes,
                a non-empty list of single data actions (no wildcards); default GetItem,
                PutItem, UpdateItem, DeleteItem, Query and ConditionCheckItem.
            user_pool: an existing user pool for the authorizer (then no app client or domain
                is made); default a new invite-only pool.
            mfa_required: whether the new pool requires MFA; default yes in production,
                optional in sandbox.
            callback_urls: where the new pool's hosted sign-in may send users back: https
                (http only for localhost), no fragment; production requires yours and refuses
                local and example.com/net/org URLs; default in sandbox `http://localhost:8080/`.
            logout_urls: where sign-out may send users; as callback_urls.
            auth_domain_prefix: the new pool's Cognito domain prefix; default
                `<stack>-<construct id>-<account id>`.
            cors_allowed_origins: exact origins browsers may call from (`*` is refused, http
                only for localhost); default none (no CORS).
            stage_name: letters, digits and _; default `v1`.
            throttling_rate_limit: requests per second for the stage and usage plan; default 50.
            throttling_burst_limit: burst, at least the rate limit; default 100.
            daily_quota_per_api_key: requests per API key per day (needs api_key_required);
                default no quota.
            api_key_required: whether every method needs an API key; default False.
            web_acl: a WAF web ACL on the stage; default yes in production, no in sandbox.
            waf_rate_limit_per_ip: requests per IP in 5 minutes before WAF blocks, 10 or more;
                default 2000.
            set_account_logging_role: set the Region's API Gateway CloudWatch role (one per
                stack, shared by its APIs); False where the account already has one (execution
                logging needs it). One setting per account and Region: let one stack own it.
                Default True.
            max_body_bytes: the body size the handler answers 413 above, up to 10 MB;
                default 8192.
            latency_alarm: the p99 latency alarm threshold; default 3 s.
            alarm_topic: where the alarms go; default a new encrypted topic.
            profile: sandbox or production; default the `profile` context value.
            snap_start: Lambda SnapStart for the handler: its versions are snapshotted after
                Init and API Gateway invokes the `live` alias; billed per snapshot cached and
                per restore (see the page's "Cold start"). Default on in production (a caller
                waits on every cold start), off in sandbox (an idle API would pay the cache).
        """
        super().__init__(scope, construct_id)
        _check_types(locals())
        check_routes(routes)
        exclusive(table=table, table_partition_key=table_partition_key)
        exclusive(table=table, table_time_to_live_attribute=table_time_to_live_attribute)
        check_environment("environment", environment, CONSTRUCT_ENVIRONMENT)
        _check_props(
            timeout=timeout,
            table=table,
            table_time_to_live_attribute=table_time_to_live_attribute,
            user_pool=user_pool,
            mfa_required=mfa_required,
            sign_in_settings=bool(callback_urls or logout_urls or auth_domain_prefix),
            auth_domain_prefix=auth_domain_prefix,
            cors_allowed_origins=cors_allowed_origins,
            stage_name=stage_name,
            throttling_rate_limit=throttling_rate_limit,
            throttling_burst_limit=throttling_burst_limit,
            daily_quota_per_api_key=daily_quota_per_api_key,
            api_key_required=api_key_required,
            waf_rate_limit_per_ip=waf_rate_limit_per_ip,
            max_body_bytes=max_body_bytes,
            table_actions=table_actions,
        )
        self.profile = profile or profile_of(self)
        self.table: dynamodb.ITable = table or self._new_table(
            table_partition_key or DEFAULT_PARTITION_KEY, table_indexes, table_time_to_live_attribute
        )
        self.function = PythonFunction(
            self,
            "Handler",
            code_dir=code_dir,
            handler=handler,
            profile=self.profile,
            service_name=construct_id.lower() if service_name is None else service_name,
            timeout=timeout,
            memory_size=memory_size,
            environment={
                "TABLE_NAME": self.table.table_name,
                "CORS_ALLOWED_ORIGINS": ",".join(cors_allowed_origins),
                "MAX_BODY_BYTES": str(max_body_bytes),
                **(environment or {}),
            },
            # PythonFunction's: API Gateway then invokes its `live` alias.
            snap_start=self.profile.is_production if snap_start is None else snap_start,
        )
        acknowledge(self.function.function, "Serverless-LambdaDLQ", SYNCHRONOUS_REASON)
        self._grant_table(table_actions, table_indexes)

        self.user_pool_client: cognito.UserPoolClient | None = None
        self.user_pool_domain: cognito.UserPoolDomain | None = None
        if user_pool is None:
            required = self.profile.is_production if mfa_required is None else mfa_required
            production = self.profile.is_production
            user_pool, self.user_pool_client, self.user_pool_domain = api_protection.user_pool(
                self,
                "Users",
                profile=self.profile,
                mfa_required=required,
                callback_urls=api_protection.check_sign_in_urls(
                    "callback_urls", callback_urls, production=production
                ),
                logout_urls=api_protection.check_sign_in_urls(
                    "logout_urls", logout_urls, production=production
                ),
                domain_prefix=auth_domain_prefix or self._default_domain_prefix(),
            )
        self.user_pool: cognito.IUserPool = user_pool
        self.authorizer = apigateway.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[user_pool], results_cache_ttl=Duration.minutes(5)
        )

        self.access_logs = log_group(self, "AccessLogs", profile=self.profile)
        self.api = apigateway.RestApi(
            self,
            "Api",
            description=f"{self.node.path} REST API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=False,  # one account setting per stack, below, not one per API
            deploy_options=apigateway.StageOptions(
                stage_name=stage_name,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigateway.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # full request/response logging would write tokens and PII
                throttling_rate_limit=throttling_rate_limit,
                throttling_burst_limit=throttling_burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=access_log_format(),
            ),
            default_cors_preflight_options=_cors(cors_allowed_origins, routes),
        )
        self.stage = self.api.deployment_stage
        self.url = self.api.url
        self.account_logging: AccountLogging | None = None
        if set_account_logging_role:
            self.account_logging = account_logging(self, removal_policy=self.profile.removal_policy)
            # A stage that logs is refused until the account names a CloudWatch role.
            self.stage.node.add_dependency(self.account_logging.account)
        # API Gateway would create this group itself on first use, kept forever and outside the
        # stack; created here it has the profile's retention and goes with `cdk destroy`.
        self.execution_logs = log_group(
            self,
            "ExecutionLogs",
            profile=self.profile,
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{stage_name}",
        )
        self.stage.node.add_dependency(self.execution_logs)
        self._gateway_responses(cors_allowed_origins)

        self.request_validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        integration = apigateway.LambdaIntegration(self.function.invocable, allow_test_invoke=False)
        for route in routes:
            self._add_route(route, integration, api_key_required)
        for method in self.api.methods:
            if method.http_method == "OPTIONS":
                acknowledge(method, "AwsSolutions-APIG4", PREFLIGHT_REASON)
                acknowledge(method, "AwsSolutions-COG4", PREFLIGHT_REASON)

        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            description=f"Throttle and quota for API keys of {self.node.path}",
            throttle=apigateway.ThrottleSettings(
                rate_limit=throttling_rate_limit, burst_limit=throttling_burst_limit
            ),
            quota=apigateway.QuotaSettings(limit=daily_quota_per_api_key, period=apigateway.Period.DAY)
            if daily_quota_per_api_key
            else None,
            api_stages=[apigateway.UsagePlanPerApiStage(api=self.api, stage=self.stage)],
        )

        protect = self.profile.is_production if web_acl is None else web_acl
        self.web_acl: wafv2.CfnWebACL | None = None
        if protect:
            self.web_acl = api_protection.web_acl(
                self, "WebAcl", stage=self.stage, rate_limit_per_ip=waf_rate_limit_per_ip
            )
        else:
            acknowledge(self.stage, "AwsSolutions-APIG3", NO_WAF_REASON)

        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(
            self, "AlarmTopic", profile=self.profile
        )
        self.alarms = self._alarms(latency_alarm)

    def _default_domain_prefix(self) -> str:
        """Per stack, construct and account: a prefix must be unique in its Region across every
        AWS account."""
        stack_name = Stack.of(self).stack_name
        stack_part = "" if Token.is_unresolved(stack_name) else stack_name  # e.g. a nested stack
        name = re.sub(r"[^a-z0-9]+", "-", f"{stack_part}-{self.node.id}".lower())
        for word in RESERVED_IN_DOMAIN:
            name = name.replace(word, "")
        name = re.sub(r"-+", "-", name).strip("-")[:48]
        return f"{name}-{Aws.ACCOUNT_ID}" if name else f"api-{Aws.ACCOUNT_ID}"

    def _new_table(
        self, partition_key: str, indexes: Sequence[TableIndex], time_to_live_attribute: str | None
    ) -> dynamodb.TableV2:
        table = on_demand_table(
            self,
            "Table",
            profile=self.profile,
            partition_key=partition_key,
            time_to_live_attribute=time_to_live_attribute,
        )
        mark_for_backup(table)
        string = dynamodb.AttributeType.STRING
        for index in indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=string),
                sort_key=dynamodb.Attribute(name=index.sort_key, type=string) if index.sort_key else None,
            )
        return table

    def _grant_table(self, actions: Sequence[str], indexes: Sequence[TableIndex]) -> None:
        """The listed actions on the table and its named indexes only (no index/* wildcard)."""
        arn = self.table.table_arn
        self.function.role.add_to_policy(
            iam.PolicyStatement(
                actions=list(actions),
                resources=[arn, *(f"{arn}/index/{index.name}" for index in indexes)],
            )
        )

    def _add_route(self, route: Route, integration: apigateway.Integration, api_key_required: bool) -> None:
        resource: apigateway.IResource = self.api.root
        for segment in route.path.strip("/").split("/"):
            resource = resource.get_resource(segment) or resource.add_resource(segment)
        models = None
        if route.body_schema is not None:
            name = re.sub(r"[^A-Za-z0-9]", "", f"{route.method.title()}{route.path.title()}")
            model = self.api.add_model(
                f"{name}Model", content_type="application/json", schema=json_schema(route.body_schema)
            )
            models = {"application/json": model}
        resource.add_method(
            route.method,
            integration,
            authorizer=self.authorizer,
            authorization_type=apigateway.AuthorizationType.COGNITO,
            request_validator=self.request_validator,
            request_parameters=route.request_parameters(),
            request_models=models,
            api_key_required=api_key_required,
        )

    def _gateway_responses(self, origins: Sequence[str]) -> None:
        """Errors API Gateway answers itself (bad input, no token, throttled, WAF-blocked) in the
        handler's JSON error shape. With one allowed origin, browsers may read them too."""
        headers = {"Access-Control-Allow-Origin": f"'{origins[0]}'"} if len(origins) == 1 else None
        for name, response_type in (
            ("Default4xx", apigateway.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigateway.ResponseType.DEFAULT_5_XX),
        ):
            self.api.add_gateway_response(
                name,
                type=response_type,
                templates={"application/json": ERROR_TEMPLATE},
                response_headers=headers,
            )

    def _alarms(self, latency: Duration) -> list[cloudwatch.Alarm]:
        five_minutes = Duration.minutes(5)
        topic = self.alarm_topic
        return [
            notifying_alarm(
                self,
                "ServerErrors",
                self.api.metric_server_error(period=five_minutes, statistic="Sum"),
                topic=topic,
                threshold=1,
                evaluation_periods=1,
                comparison=AT_LEAST,
                description=f"{self.node.path} answered with a 5XX",
            ),
            notifying_alarm(
                self,
                "HandlerErrors",
                self.function.function.metric_errors(period=five_minutes, statistic="Sum"),
                topic=topic,
                threshold=1,
                evaluation_periods=1,
                comparison=AT_LEAST,
                description=f"{self.node.path} handler invocations failed",
            ),
            notifying_alarm(
                self,
                "SlowResponses",
                self.api.metric_latency(period=five_minutes, statistic="p99"),
                topic=topic,
                threshold=latency.to_milliseconds(),
                evaluation_periods=3,
                description=f"{self.node.path} p99 latency above {latency.to_seconds()} s",
            ),
        ]


def access_log_format() -> apigateway.AccessLogFormat:
    """One JSON object per request: who, what, outcome, and where time went."""
    field = apigateway.AccessLogField
    entries = {
        "requestId": field.context_request_id(),
        "extendedRequestId": field.context_extended_request_id(),
        "requestTime": field.context_request_time(),
        "ip": field.context_identity_source_ip(),
        "userAgent": field.context_identity_user_agent(),
        "caller": field.context_authorizer_claims("sub"),
        "httpMethod": field.context_http_method(),
        "resourcePath": field.context_resource_path(),
        "protocol": field.context_protocol(),
        "status": field.context_status(),
        "responseLength": field.context_response_length(),
        "responseLatency": field.context_response_latency(),
        "integrationLatency": field.context_integration_latency(),
        "integrationStatus": field.context_integration_status(),
        "errorType": field.context_error_response_type(),
        "errorMessage": field.context_error_message(),
        "wafStatus": field.context_waf_response_code(),
        "xrayTraceId": field.context_xray_trace_id(),
    }
    return apigateway.AccessLogFormat.custom(json.dumps(entries, separators=(",", ":")))


def _cors(origins: Sequence[str], routes: Sequence[Route]) -> apigateway.CorsOptions | None:
    if not origins:
        return None
    headers = {"Authorization", "Content-Type", *(name for r in routes for name in r.headers)}
    return apigateway.CorsOptions(
        allow_origins=list(origins),
        allow_methods=sorted({route.method for route in routes}),
        allow_headers=sorted(headers),
        max_age=Duration.minutes(10),
    )


def _check_props(
    *,
    timeout: Duration,
    table: dynamodb.ITable | None,
    table_time_to_live_attribute: str | None,
    user_pool: cognito.IUserPool | None,
    mfa_required: bool | None,
    sign_in_settings: bool,
    auth_domain_prefix: str | None,
    cors_allowed_origins: Sequence[str],
    stage_name: str,
    throttling_rate_limit: int,
    throttling_burst_limit: int,
    daily_quota_per_api_key: int | None,
    api_key_required: bool,
    waf_rate_limit_per_ip: int,
    max_body_bytes: int,
    table_actions: Sequence[str],
) -> None:
    seconds = whole_seconds("timeout", timeout)
    if not 1 <= seconds <= INTEGRATION_TIMEOUT_SECONDS:
        raise ValueError(
            f"timeout: API Gateway waits at most {INTEGRATION_TIMEOUT_SECONDS} s for the handler, "
            f"so it must be between 1 and {INTEGRATION_TIMEOUT_SECONDS} s, got {seconds} s"
        )
    if user_pool is not None and mfa_required is not None:
        raise ValueError("mfa_required: an existing user_pool keeps its own MFA setting; pass one")
    if user_pool is not None and sign_in_settings:
        raise ValueError(
            "callback_urls: an existing user_pool gets no app client or domain from this construct, "
            "so callback_urls, logout_urls and auth_domain_prefix do not apply"
        )
    prefix = auth_domain_prefix
    if prefix is not None and not Token.is_unresolved(prefix) and not _domain_prefix_ok(prefix):
        raise ValueError(
            f"auth_domain_prefix: {prefix!r} must be 1 to 63 lower-case letters, digits or hyphens, "
            "without aws, amazon or cognito"
        )
    if isinstance(cors_allowed_origins, str):
        raise ValueError("cors_allowed_origins: give a list of origins, not one string")
    for origin in cors_allowed_origins:
        if origin == "*":
            raise ValueError("cors_allowed_origins: '*' is refused; name the origins that may call the API")
        if not ORIGIN.fullmatch(origin):
            raise ValueError(
                f"cors_allowed_origins: {origin!r} is not an origin such as https://app.example.com "
                "(https, no path; http only for localhost)"
            )
    if not STAGE_NAME.fullmatch(stage_name):
        raise ValueError(f"stage_name: letters, digits and _ only, got {stage_name!r}")
    if throttling_rate_limit < 1 or throttling_burst_limit < 1:
        raise ValueError("throttling_rate_limit: rate and burst limits must both be at least 1")
    if throttling_burst_limit < throttling_rate_limit:
        raise ValueError(
            f"throttling_burst_limit: {throttling_burst_limit} is below the rate limit "
            f"{throttling_rate_limit}; the burst must absorb at least one second of traffic"
        )
    if daily_quota_per_api_key is not None and daily_quota_per_api_key < 1:
        raise ValueError("daily_quota_per_api_key: must be at least 1 request")
    if daily_quota_per_api_key is not None and not api_key_required:
        raise ValueError(
            "daily_quota_per_api_key: quotas count requests per API key, which callers send only "
            "when api_key_required=True"
        )
    if waf_rate_limit_per_ip < 10:
        raise ValueError(f"waf_rate_limit_per_ip: WAF allows 10 or more, got {waf_rate_limit_per_ip}")
    if not 1 <= max_body_bytes <= 10 * 1024 * 1024:
        raise ValueError("max_body_bytes: must be between 1 byte and API Gateway's 10 MB limit")
    for action in sequence("table_actions", table_actions, str, empty=False):
        if not action.startswith("dynamodb:") or "*" in action:
            raise ValueError(f"table_actions: {action!r} is not one DynamoDB action (no wildcards)")
        one_of("table_actions", action, TABLE_DATA_ACTIONS)


_PROP_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    # prop: (accepted types, None allowed)
    "code_dir": ((str, Path), False),
    "handler": ((str,), False),
    "service_name": ((str,), True),
    "timeout": ((Duration,), False),
    "memory_size": ((int,), False),
    "table": ((dynamodb.ITable,), True),
    "table_partition_key": ((str,), True),
    "table_time_to_live_attribute": ((str,), True),
    "user_pool": ((cognito.IUserPool,), True),
    "mfa_required": ((bool,), True),
    "auth_domain_prefix": ((str,), True),
    "stage_name": ((str,), False),
    "throttling_rate_limit": ((int,), False),
    "throttling_burst_limit": ((int,), False),
    "daily_quota_per_api_key": ((int,), True),
    "api_key_required": ((bool,), False),
    "web_acl": ((bool,), True),
    "waf_rate_limit_per_ip": ((int,), False),
    "set_account_logging_role": ((bool,), False),
    "max_body_bytes": ((int,), False),
    "latency_alarm": ((Duration,), False),
    "alarm_topic": ((sns.ITopic,), True),
    "profile": ((Profile,), True),
    "snap_start": ((bool,), True),
}
_SEQUENCE_PROPS: dict[str, type] = {
    "routes": Route,
    "table_indexes": TableIndex,
    "callback_urls": str,
    "logout_urls": str,
    "cors_allowed_origins": str,
}


def _check_types(props: Mapping[str, Any]) -> None:
    """Each prop of the expected type, named in the message when not (an ARN string where a
    topic goes, an int where a Duration goes, one string where a list goes)."""
    for prop, (kinds, optional) in _PROP_TYPES.items():
        expect(prop, props[prop], *kinds, optional=optional)
    for prop, kind in _SEQUENCE_PROPS.items():
        sequence(prop, props[prop], kind)
    within("memory_size", props["memory_size"], 128, 10240, unit="MB")


def _domain_prefix_ok(prefix: str) -> bool:
    return bool(DOMAIN_PREFIX.fullmatch(prefix)) and not any(word in prefix for word in RESERVED_IN_DOMAIN)
