"""`Standby`: the orders API in two Regions over one DynamoDB global table, Route 53 failover
between them, and the failover runbook. Built only with
`-c primary_region=... -c standby_region=... -c domain=... -c hosted_zone_id=...`
(`-c standby_strategy=pilot-light|warm-standby`, default pilot-light); without them, one line
says so and nothing is built, so `make synth` needs no account.

Four stacks, deployed in this order (CDK orders them by their dependencies):
- `StandbyKey` (standby Region): the key of the table's replica there, named by an alias.
- `StandbyPrimary` (primary Region): the global table (replica in the standby Region, encrypted
  with that key by alias ARN), the API, its custom domain, the PRIMARY failover record and its
  health check, replication-latency alarm; an SSM parameter with the health check's id, URL
  and resource path.
- `Standby` (standby Region): the API over the replica (found by table name), its custom
  domain, the SECONDARY record, the runbook (reading the primary's parameter at deploy time).
- `StandbyMonitor` (us-east-1, where Route 53 publishes health-check metrics): the alarm on the
  primary's health check.
Cross-Region values travel by name (table, alias, parameter), never by a strong cross-Region
reference (aws/aws-cdk#27902)."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from patterns.serverless_api import ServerlessApi
from patterns.shared.defaults import Profile
from patterns.standby import (
    FailoverEndpoint,
    FailoverRunbook,
    GlobalTable,
    HealthCheckAlarm,
    RemoteParameter,
    ReplicaKey,
    replication_latency_alarm,
)
from patterns.standby.endpoint import check_domain
from patterns.standby.monitor import HEALTH_METRICS_REGION
from stacks.paths import lambda_dir
from stacks.serverless_api_stack import OWNER_INDEX, order_routes

PRIMARY_REGION_KEY = "primary_region"
STANDBY_REGION_KEY = "standby_region"
DOMAIN_KEY = "domain"
HOSTED_ZONE_KEY = "hosted_zone_id"
STRATEGY_KEY = "standby_strategy"
# Any new value makes Standby and StandbyMonitor read the primary's parameter again (after
# StandbyPrimary was destroyed and deployed anew: same template, new health check).
REFRESH_KEY = "standby_refresh"
REQUIRED_KEYS = (PRIMARY_REGION_KEY, STANDBY_REGION_KEY, DOMAIN_KEY, HOSTED_ZONE_KEY)
PILOT_LIGHT, WARM_STANDBY = "pilot-light", "warm-standby"
STANDBY_STACK_IDS = ("StandbyKey", "StandbyPrimary", "Standby", "StandbyMonitor")
API_SUBDOMAIN = "api"
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
# What a reader and writer of a table encrypted with a customer-managed key needs on the key
# (DynamoDB DG, "Encryption at rest: how it works", customer managed keys).
TABLE_KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
SKIP_LINE = (
    "Standby: not built; give -c primary_region=<region> -c standby_region=<region> "
    "-c domain=<your hosted zone's domain> -c hosted_zone_id=<its id> to build StandbyKey, "
    "StandbyPrimary, Standby and StandbyMonitor"
)


EXAMPLE_CONTEXT = {
    "primary_region": "eu-west-1",
    "standby_region": "eu-central-1",
    "domain": "refarch.test",
    "hosted_zone_id": "Z0EXAMPLE0REFARCH0TEST",
}
"""Example settings under the .test top-level domain, which never resolves (RFC 6761): what the
DR table, `make docs` and the tests synthesize when no `-c primary_region=...` is given."""


@dataclass(frozen=True)
class StandbySettings:
    primary_region: str
    standby_region: str
    domain: str
    hosted_zone_id: str
    strategy: str = PILOT_LIGHT

    @property
    def api_domain(self) -> str:
        return f"{API_SUBDOMAIN}.{self.domain}"

    @property
    def table_name(self) -> str:
        """The same in both Regions, per domain: the standby's stack finds the replica by it."""
        return "orders-" + self.domain.replace(".", "-")

    @property
    def key_alias(self) -> str:
        return f"alias/{self.table_name}"

    @property
    def primary_parameter(self) -> str:
        """In the primary Region: the primary health check's id, URL and resource path (a
        string list)."""
        return f"/{self.table_name}/primary-health"

    @classmethod
    def from_context(cls, node: Any) -> StandbySettings | None:
        """The settings given with -c, None when none is given; partial or invalid: an error."""
        given = {key: node.try_get_context(key) for key in REQUIRED_KEYS}
        # domain and hosted_zone_id are the GlobalReads stacks' context too: only a Region of
        # ours says these stacks are wanted.
        if not (given[PRIMARY_REGION_KEY] or given[STANDBY_REGION_KEY]):
            return None
        missing = [key for key, value in given.items() if not value]
        if missing:
            raise ValueError(
                f"Standby: missing {', '.join(f'-c {key}=...' for key in missing)} (the Standby stacks "
                f"need all of {', '.join(REQUIRED_KEYS)})"
            )
        for key in (PRIMARY_REGION_KEY, STANDBY_REGION_KEY):
            if not REGION.fullmatch(str(given[key])):
                raise ValueError(f"{key}: {given[key]!r} is not a Region such as eu-west-1")
        if given[PRIMARY_REGION_KEY] == given[STANDBY_REGION_KEY]:
            raise ValueError(
                f"{STANDBY_REGION_KEY}: the standby must be in another Region than the primary "
                f"({given[PRIMARY_REGION_KEY]}); a standby in the same Region survives nothing a Region loses"
            )
        if not HOSTED_ZONE_ID.fullmatch(str(given[HOSTED_ZONE_KEY])):
            raise ValueError(
                f"{HOSTED_ZONE_KEY}: {given[HOSTED_ZONE_KEY]!r} is not a hosted zone id such as Z0123ABC"
            )
        check_domain(DOMAIN_KEY, str(given[DOMAIN_KEY]))
        strategy = node.try_get_context(STRATEGY_KEY) or PILOT_LIGHT
        if strategy not in (PILOT_LIGHT, WARM_STANDBY):
            raise ValueError(f"{STRATEGY_KEY}: {strategy!r} is not {PILOT_LIGHT} or {WARM_STANDBY}")
        return cls(
            primary_region=str(given[PRIMARY_REGION_KEY]),
            standby_region=str(given[STANDBY_REGION_KEY]),
            domain=str(given[DOMAIN_KEY]),
            hosted_zone_id=str(given[HOSTED_ZONE_KEY]),
            strategy=str(strategy),
        )


def _sign_in_urls(scope: Construct, key: str, profile: Profile) -> list[str]:
    """As the ServerlessApi stack: production needs the app's sign-in URLs from context."""
    value = scope.node.try_get_context(key)
    if value is None and profile.is_production:
        raise ValueError(
            f"{key}: the production profile needs your app's sign-in URLs (-c {key}=https://...)"
        )
    return [] if value is None else [str(value)]


def _orders_api(scope: Construct, profile: Profile, table: dynamodb.ITable, **kwargs: Any) -> ServerlessApi:
    code = lambda_dir("orders_api")
    schemas = json.loads((Path(code) / "schemas.json").read_text())
    return ServerlessApi(
        scope,
        "Orders",
        code_dir=code,
        handler="app.handler",
        service_name="orders-api",
        routes=order_routes(schemas),
        table=table,
        table_indexes=[OWNER_INDEX],
        environment={"OWNER_INDEX": OWNER_INDEX.name},
        profile=profile,
        callback_urls=_sign_in_urls(scope, "callback_url", profile),
        logout_urls=_sign_in_urls(scope, "logout_url", profile),
        **kwargs,
    )


def _zone(scope: Construct, settings: StandbySettings) -> route53.IHostedZone:
    return route53.HostedZone.from_hosted_zone_attributes(
        scope, "Zone", hosted_zone_id=settings.hosted_zone_id, zone_name=settings.domain
    )


class StandbyKeyStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        settings: StandbySettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.replica_key = ReplicaKey(self, "ReplicaKey", profile=profile, alias_name=settings.key_alias)
        CfnOutput(self, "KeyArn", value=self.replica_key.key.key_arn)


@dataclass(frozen=True)
class PrimaryHealth:
    """The primary's health check as StandbyPrimary's SSM parameter holds it (id, URL, path)."""

    check_id: str
    url: str
    path: str


def _read_primary_health(
    scope: Construct, profile: Profile, settings: StandbySettings, fingerprint: str
) -> PrimaryHealth:
    primary = RemoteParameter(
        scope,
        "PrimaryHealth",
        profile=profile,
        region=settings.primary_region,
        parameter_name=settings.primary_parameter,
        refresh=fingerprint,
    )
    check_id, url, path = (Fn.select(i, Fn.split(",", primary.value)) for i in range(3))
    return PrimaryHealth(check_id=check_id, url=url, path=path)


def primary_fingerprint(primary: StandbyPrimaryStack, refresh: str = "") -> str:
    """What the primary's parameter says can change only with these (the stack's name, the
    check's logical id and configuration, the parameter's value as the template writes them)
    or with a recreated stack (`-c standby_refresh=...`): a digest of them, which the readers
    carry, so a change makes CloudFormation update them and they read again. A new type or
    interval replaces the check in Route 53 (a new id): both are in its configuration."""
    assert primary.endpoint.health_check is not None
    check = primary.endpoint.health_check.node.default_child
    assert isinstance(check, route53.CfnHealthCheck)
    described = {
        "stack": primary.stack_name,
        "check": primary.get_logical_id(check),
        "config": primary.resolve(check.health_check_config),
        "parameter": primary.resolve(primary.health_parameter.string_list_value),
        "refresh": refresh,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


class StandbyPrimaryStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        settings: StandbySettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.orders_table = GlobalTable(
            self,
            "OrdersTable",
            profile=profile,
            table_name=settings.table_name,
            replica_region=settings.standby_region,
            replica_key_alias=settings.key_alias,
            indexes=[OWNER_INDEX],
            time_to_live_attribute="expiresAt",
        )
        self.orders = _orders_api(
            self, profile, self.orders_table.table, alarm_topic=self.orders_table.alarm_topic
        )
        self.orders_table.key.grant(self.orders.function.role, *TABLE_KEY_ACTIONS)
        self.endpoint = FailoverEndpoint(
            self,
            "Failover",
            api=self.orders,
            zone=_zone(self, settings),
            domain_name=settings.api_domain,
            primary=True,
        )
        assert self.endpoint.health_check is not None
        self.health_check_id = self.endpoint.health_check.health_check_id
        self.health_parameter = ssm.StringListParameter(
            self,
            "PrimaryHealth",
            parameter_name=settings.primary_parameter,
            string_list_value=[
                self.health_check_id,
                self.endpoint.health_url,
                self.endpoint.health_resource_path,
            ],
            description="The primary's health check id, health URL and the check's resource path, "
            "read by the Standby stacks",
        )
        CfnOutput(self, "ApiUrl", value=f"https://{settings.api_domain}/")
        CfnOutput(self, "HealthCheckId", value=self.health_check_id)
        CfnOutput(self, "TableName", value=self.orders_table.table.table_name)
        CfnOutput(self, "UserPoolId", value=self.orders.user_pool.user_pool_id)


class StandbyStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        settings: StandbySettings,
        replica_key: kms.IKey,
        primary_fingerprint: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        pilot_light = settings.strategy == PILOT_LIGHT
        # The replica StandbyPrimary's global table created here, found by its name.
        table = dynamodb.TableV2.from_table_name(self, "OrdersReplica", settings.table_name)
        # No SnapStart in the standby, whatever the profile: a SnapStart version not invoked for
        # 14 days goes Inactive and its invocations fail (SnapStartNotReadyException) until it
        # is re-activated (Lambda DG, SnapStart troubleshooting), and a standby is not invoked:
        # a pilot light's promoted function would fail its verify, a warm standby's first
        # requests after a failover would fail. The primary keeps the profile's default.
        self.orders = _orders_api(self, profile, table, snap_start=False)
        replica_key.grant(self.orders.function.role, *TABLE_KEY_ACTIONS)
        self.endpoint = FailoverEndpoint(
            self,
            "Failover",
            api=self.orders,
            zone=_zone(self, settings),
            domain_name=settings.api_domain,
            primary=False,
            pilot_light=pilot_light,
        )
        primary = _read_primary_health(self, profile, settings, primary_fingerprint)
        self.runbook = FailoverRunbook(
            self,
            "Runbook",
            profile=profile,
            probe_code_dir=lambda_dir("failover_probe"),
            primary_health_check_id=primary.check_id,
            primary_health_path=primary.path,
            primary_health_url=primary.url,
            standby_health_url=self.endpoint.health_url,
            standby_functions=[self.orders.function.function] if pilot_light else [],
            pilot_light=pilot_light,
            alarm_topic=self.orders.alarm_topic,
        )
        # After a failover the writes happen here; their replication back is measured here.
        self.alarms = [
            replication_latency_alarm(
                self,
                "ReplicationLatencyToPrimary",
                table_name=settings.table_name,
                receiving_region=settings.primary_region,
                topic=self.orders.alarm_topic,
            )
        ]
        CfnOutput(self, "RunbookArn", value=self.runbook.state_machine.state_machine_arn)
        CfnOutput(self, "StandbyHealthUrl", value=self.endpoint.health_url)
        CfnOutput(self, "UserPoolId", value=self.orders.user_pool.user_pool_id)


class StandbyMonitorStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        settings: StandbySettings,
        primary_fingerprint: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        pilot_light = settings.strategy == PILOT_LIGHT
        primary = _read_primary_health(self, profile, settings, primary_fingerprint)
        self.health = HealthCheckAlarm(
            self,
            "PrimaryHealthAlarm",
            profile=profile,
            health_check_id=primary.check_id,
            description=f"{settings.api_domain}: the primary ({settings.primary_region}) fails its health "
            f"check; Route 53 answers with the standby ({settings.standby_region}); "
            f"{'start the runbook to promote it' if pilot_light else 'it serves already'}",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.health.alarm_topic.topic_arn)


def build_standby(
    app: cdk.App,
    *,
    profile: Profile,
    described: Callable[[str], str],
    settings: StandbySettings | None = None,
    stack_name: Callable[[str], str] = str,
) -> dict[str, Stack]:
    """The four Standby stacks, or none (and the line saying how to build them); `stack_name`
    gives each stack id its CloudFormation name (the integ app's are prefixed)."""
    settings = settings or StandbySettings.from_context(app.node)
    if settings is None:
        sys.stderr.write(SKIP_LINE + "\n")
        return {}
    primary_env = cdk.Environment(region=settings.primary_region)
    standby_env = cdk.Environment(region=settings.standby_region)
    strategy = settings.strategy.replace("-", " ")
    key = StandbyKeyStack(
        app,
        "StandbyKey",
        stack_name=stack_name("StandbyKey"),
        profile=profile,
        settings=settings,
        env=standby_env,
        description=described(f"Standby: the orders replica's key in {settings.standby_region}"),
    )
    primary = StandbyPrimaryStack(
        app,
        "StandbyPrimary",
        stack_name=stack_name("StandbyPrimary"),
        profile=profile,
        settings=settings,
        env=primary_env,
        description=described(f"Standby: orders API and global table, primary in {settings.primary_region}"),
    )
    primary.add_stack_dependency(key, "the replica is encrypted with that key, named by its alias")
    fingerprint = primary_fingerprint(primary, str(app.node.try_get_context(REFRESH_KEY) or ""))
    standby = StandbyStack(
        app,
        "Standby",
        stack_name=stack_name("Standby"),
        profile=profile,
        settings=settings,
        replica_key=key.replica_key.key,
        primary_fingerprint=fingerprint,
        env=standby_env,
        description=described(
            f"Standby: orders API {strategy} in {settings.standby_region}, failover runbook"
        ),
    )
    standby.add_stack_dependency(primary, "the replica and the primary's health parameter come from it")
    monitor = StandbyMonitorStack(
        app,
        "StandbyMonitor",
        stack_name=stack_name("StandbyMonitor"),
        profile=profile,
        settings=settings,
        primary_fingerprint=fingerprint,
        env=cdk.Environment(region=HEALTH_METRICS_REGION),
        description=described(
            "Standby: the primary's health-check alarm (Route 53 metrics are in us-east-1)"
        ),
    )
    monitor.add_stack_dependency(primary, "it reads the primary's health parameter")
    return {"StandbyKey": key, "StandbyPrimary": primary, "Standby": standby, "StandbyMonitor": monitor}
