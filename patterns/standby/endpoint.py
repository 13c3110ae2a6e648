"""`FailoverEndpoint`: one Region's side of a Route 53 failover: the API's health path, a
regional custom domain (the same name in both Regions, each with its own ACM certificate), and
the failover alias record; on the primary, the health check that record carries; on a pilot
light, the API's function held at reserved concurrency 0 until the runbook promotes it."""

from __future__ import annotations

import math
import re

import jsii
from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from constructs import Construct

from ..serverless_api import ServerlessApi
from ..shared.defaults import acknowledge
from ..shared.props import PropError, expect, within

# Route 53 health checks probe every 10 or 30 seconds, and call an endpoint unhealthy after 1-10
# failed probes in a row ("Values that you specify when you create or update health checks").
REQUEST_INTERVALS = (10, 30)
# Route 53 runs about 15-16 health checkers per check (in its default checker Regions), each
# probing once per interval, uncoordinated: "you'll sometimes see several requests per second
# regardless of the interval you chose" ("How Amazon Route 53 determines whether a health check
# is healthy"). The health method's own throttle holds all of them at once, twice over, plus the
# runbook's probe and an operator's curl, and is never below the stage's default (which API
# Gateway applies per method anyway: the entry only raises a default set too low for them).
ROUTE53_CHECKERS = 16
HEALTH_HEADROOM = 2
HEALTH_PATH = re.compile(r"^/[a-z0-9-]{1,64}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
PUBLIC_HEALTH_REASON = (
    "The health path is for Route 53's health checkers, which send no token; it answers "
    "{status: ok} from the function without reading the table, so it reveals nothing."
)


@jsii.implements(route53.IAliasRecordTarget)
class _RegionalDomainTarget:
    """An alias to an API Gateway regional domain that evaluates target health: Route 53 then
    also fails over when API Gateway is unavailable in the Region ("Configure custom health
    checks for DNS failover", API Gateway DG); CDK refuses a failover alias without it. The
    alias names the domain's own regional hosted zone, not the record's zone."""

    def __init__(self, domain: apigateway.IDomainName) -> None:
        self._domain = domain

    def bind(
        self, _record: route53.IRecordSet, _zone: route53.IHostedZone | None = None
    ) -> route53.AliasRecordTargetConfig:
        return route53.AliasRecordTargetConfig(
            dns_name=self._domain.domain_name_alias_domain_name,
            hosted_zone_id=self._domain.domain_name_alias_hosted_zone_id,
            evaluate_target_health=True,
        )


def check_domain(prop: str, value: str) -> str:
    expect(prop, value, str)
    if not DOMAIN.fullmatch(value):
        raise PropError(prop, f"{value!r} is not a lower-case DNS name such as api.example.com")
    return value


class FailoverEndpoint(Construct):
    """The primary's or the secondary's failover record for `domain_name`, over a ServerlessApi.

    Attributes:
        health_method: `GET <health_path>` on the API, without authorization.
        certificate: the custom domain's certificate in this Region (yours, or the new one).
        domain: the regional custom domain, mapped to the API's stage.
        record: the failover alias record (PRIMARY or SECONDARY) to `domain`.
        health_check: the primary's HTTPS health check of its health path; None on a secondary
            (Route 53 treats a secondary without one as healthy).
        health_throttle: the health method's own limits (requests per second, burst) on the
            API's stage.
        health_url: the health path on the API's own endpoint in this Region (what the runbook
            probes; it does not depend on DNS).
        health_resource_path: the health path under the API's stage (e.g. `/v1/health`): what
            the primary's health check requests, and what the runbook writes back on failback.
    """

    health_method: apigateway.Method
    health_throttle: apigateway.ThrottleSettings
    certificate: acm.ICertificate
    domain: apigateway.DomainName
    record: route53.ARecord
    health_check: route53.HealthCheck | None
    health_url: str
    health_resource_path: str

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: ServerlessApi,
        zone: route53.IHostedZone,
        domain_name: str,
        primary: bool,
        pilot_light: bool = False,
        certificate: acm.ICertificate | None = None,
        health_path: str = "/health",
        health_check_interval: Duration = Duration.seconds(30),
        failure_threshold: int = 3,
    ) -> None:
        """Add the health path, the custom domain and the failover record.

        Args:
            api: the API in this Region; its handler must answer `GET <health_path>` with 200
                (the kit's orders handler does).
            zone: the public hosted zone of `domain_name`.
            domain_name: the name clients call, the same in both Regions (e.g. api.example.com).
            primary: True for the PRIMARY record (with the health check), False for SECONDARY.
            pilot_light: hold the API's function at reserved concurrency 0 until promoted (only
                on a secondary); default False (warm standby: it serves).
            certificate: an existing ACM certificate for `domain_name` in this Region; default a
                new one, validated by DNS in `zone`.
            health_path: the health path, one segment; default `/health`.
            health_check_interval: 10 or 30 seconds (the primary's health check); default 30 s.
            failure_threshold: failed probes in a row before Route 53 fails over, 1-10; default 3.
        """
        super().__init__(scope, construct_id)
        expect("api", api, ServerlessApi)
        expect("zone", zone, route53.IHostedZone)
        check_domain("domain_name", domain_name)
        expect("primary", primary, bool)
        expect("pilot_light", pilot_light, bool)
        expect("certificate", certificate, acm.ICertificate, optional=True)
        expect("health_path", health_path, str)
        if not HEALTH_PATH.fullmatch(health_path):
            raise PropError("health_path", f"{health_path!r} must be one lower-case segment such as /health")
        expect("health_check_interval", health_check_interval, Duration)
        interval = health_check_interval.to_seconds()
        if interval not in REQUEST_INTERVALS:
            raise PropError(
                "health_check_interval", f"Route 53 probes every 10 or 30 seconds, got {interval:g} s"
            )
        expect("failure_threshold", failure_threshold, int)
        within("failure_threshold", failure_threshold, 1, 10)
        if pilot_light and primary:
            raise PropError(
                "pilot_light", "only a secondary is held at reserved concurrency 0; the primary serves"
            )
        region = Stack.of(self).region

        self.health_method = api.api.root.add_resource(health_path.lstrip("/")).add_method(
            "GET",
            apigateway.LambdaIntegration(api.function.invocable, allow_test_invoke=False),
            authorization_type=apigateway.AuthorizationType.NONE,
        )
        acknowledge(self.health_method, "AwsSolutions-APIG4", PUBLIC_HEALTH_REASON)
        acknowledge(self.health_method, "AwsSolutions-COG4", PUBLIC_HEALTH_REASON)
        self.health_throttle = self._throttle_health(api, health_path, interval)
        host = f"{api.api.rest_api_id}.execute-api.{region}.{Aws.URL_SUFFIX}"
        resource_path = f"/{api.stage.stage_name}{health_path}"
        self.health_resource_path = resource_path
        self.health_url = f"https://{host}{resource_path}"

        self.certificate = certificate or acm.Certificate(
            self,
            "Certificate",
            domain_name=domain_name,
            validation=acm.CertificateValidation.from_dns(zone),
        )
        self.domain = apigateway.DomainName(
            self,
            "Domain",
            domain_name=domain_name,
            certificate=self.certificate,
            endpoint_type=apigateway.EndpointType.REGIONAL,
            security_policy=apigateway.SecurityPolicy.TLS_1_2,
            mapping=api.api,
        )
        self.health_check = None
        if primary:
            self.health_check = route53.HealthCheck(
                self,
                "HealthCheck",
                type=route53.HealthCheckType.HTTPS,
                fqdn=host,
                port=443,
                resource_path=resource_path,
                enable_sni=True,
                request_interval=health_check_interval,
                failure_threshold=failure_threshold,
            )
        self.record = route53.ARecord(
            self,
            "Record",
            zone=zone,
            record_name=domain_name,
            target=route53.RecordTarget.from_alias(_RegionalDomainTarget(self.domain)),
            failover=route53.Failover.PRIMARY if primary else route53.Failover.SECONDARY,
            set_identifier=f"{'primary' if primary else 'secondary'}-{region}",
            health_check=self.health_check,
        )
        if pilot_light:
            function = api.function.function.node.default_child
            assert isinstance(function, lambda_.CfnFunction)
            function.reserved_concurrent_executions = 0  # throttled until the runbook promotes it

    def _throttle_health(
        self, api: ServerlessApi, health_path: str, interval: float
    ) -> apigateway.ThrottleSettings:
        """A MethodSettings entry of the stage for `GET <health_path>`, with limits at least what
        Route 53's checkers need. A stage's default limits already apply to each method on its
        own ("Per-API, per-stage throttling limits are applied at the API method level for a
        stage", API Gateway DG "Throttle requests to your REST APIs"), so the health method never
        shared a bucket with the users' methods; the entry matters only when the stage's default
        (a user's low `throttling_rate_limit`) is below what the checkers need, which would
        answer them 429 and fail the check.

        L1: CDK's Stage takes method settings only when it is created (StageOptions.
        method_options), and this method is added to an API built before; CDK does not merge
        an override with the stage's default either, so the entry copies the default's logging,
        metrics and data-trace settings."""
        stage = api.stage.node.default_child
        assert isinstance(stage, apigateway.CfnStage)
        settings = list(stage.method_settings or [])  # type: ignore[arg-type]
        default = next(
            entry
            for entry in settings
            if isinstance(entry, apigateway.CfnStage.MethodSettingProperty)
            and entry.resource_path == "/*"
            and entry.http_method == "*"
        )
        checkers_rate = ROUTE53_CHECKERS / interval
        rate = max(float(default.throttling_rate_limit or 0), math.ceil(HEALTH_HEADROOM * checkers_rate) + 1)
        burst = max(int(default.throttling_burst_limit or 0), HEALTH_HEADROOM * ROUTE53_CHECKERS)
        health = apigateway.CfnStage.MethodSettingProperty(
            resource_path="/" + health_path.replace("/", "~1"),  # API Gateway escapes / as ~1
            http_method="GET",
            throttling_rate_limit=rate,
            throttling_burst_limit=burst,
            logging_level=default.logging_level,
            metrics_enabled=default.metrics_enabled,
            data_trace_enabled=default.data_trace_enabled,
        )
        stage.method_settings = [*settings, health]
        return apigateway.ThrottleSettings(rate_limit=rate, burst_limit=burst)
