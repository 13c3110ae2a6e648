"""The synthesized Standby stacks (both profiles, both strategies) read as AWS will read them:
what Route 53 answers and when it fails over, which key each replica uses, where the alarms
can see their metrics, and what the runbook acts on. Also: without the context nothing is built
and one line says how; a partial context fails naming what is missing."""

from __future__ import annotations

import functools
import json
from typing import Any
from unittest import mock

import aws_cdk as cdk
import pytest
from cfnlint.api import ManualArgs, lint
from moto import mock_aws

from patterns.shared.defaults import SANDBOX
from patterns.shared.props import PropError
from stacks import standby_stack
from stacks.standby_stack import (
    PILOT_LIGHT,
    REQUIRED_KEYS,
    SKIP_LINE,
    STANDBY_STACK_IDS,
    WARM_STANDBY,
    StandbySettings,
    build_standby,
)
from tests.kit import PROFILES, load_module, one, path_of, resolve_ref, resources
from tests.orders_api_events import FakeContext, proxy_event
from tools import standby_synth
from tools.standby_synth import EXAMPLE_CONTEXT

PRIMARY, STANDBY = EXAMPLE_CONTEXT["primary_region"], EXAMPLE_CONTEXT["standby_region"]
API_DOMAIN = f"api.{EXAMPLE_CONTEXT['domain']}"


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _templates(profile: str, strategy: str = PILOT_LIGHT) -> dict[str, dict[str, Any]]:
    return standby_synth.templates(profile, strategy)


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# Context ------------------------------------------------------------------------------------------


def test_without_the_context_nothing_is_built_and_one_line_says_how(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = cdk.App()
    assert build_standby(app, profile=SANDBOX, described=str) == {}
    assert app.node.children == []
    lines = capsys.readouterr().err.splitlines()
    assert lines == [SKIP_LINE]
    assert all(f"-c {key}=" in lines[0] for key in REQUIRED_KEYS)


@pytest.mark.parametrize(
    "given", [("primary_region",), ("primary_region", "domain"), ("standby_region", "hosted_zone_id")]
)
def test_a_partial_context_fails_naming_every_missing_key(given: tuple[str, ...]) -> None:
    context = {key: EXAMPLE_CONTEXT[key] for key in given}
    with pytest.raises(ValueError) as error:
        build_standby(cdk.App(context=context), profile=SANDBOX, described=str)
    for key in REQUIRED_KEYS:
        assert (f"-c {key}=" in str(error.value).split("(")[0]) is (key not in given)


def test_the_shared_domain_and_zone_alone_build_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """domain and hosted_zone_id are the GlobalReads stacks' context too: given for those, they
    must not make the Standby stacks fail for want of their Regions."""
    context = {key: EXAMPLE_CONTEXT[key] for key in ("domain", "hosted_zone_id")}
    assert build_standby(cdk.App(context=context), profile=SANDBOX, described=str) == {}
    assert capsys.readouterr().err.splitlines() == [SKIP_LINE]


def test_a_standby_in_the_primary_region_is_refused() -> None:
    context = {**EXAMPLE_CONTEXT, "standby_region": PRIMARY}
    with pytest.raises(ValueError, match="standby_region: the standby must be in another Region"):
        StandbySettings.from_context(cdk.App(context=context).node)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("primary_region", "Ireland"),
        ("hosted_zone_id", "example.com"),
        ("domain", "Not A Domain"),
        ("standby_strategy", "multi-site"),
    ],
)
def test_invalid_context_values_fail_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"^{key}: "):
        StandbySettings.from_context(cdk.App(context={**EXAMPLE_CONTEXT, key: value}).node)


def test_each_stack_is_pinned_to_its_region(profile: str) -> None:
    regions = {s.stack_name: s.environment.region for s in standby_synth.assembly(profile).stacks}
    assert regions == {
        "StandbyKey": STANDBY,
        "StandbyPrimary": PRIMARY,
        "Standby": STANDBY,
        "StandbyMonitor": "us-east-1",
    }


def test_stacks_deploy_in_the_order_their_names_are_read(profile: str) -> None:
    """The replica's key must exist before the table names it; the standby reads the replica and
    the primary's parameter, so it deploys after the primary; CloudFormation checks neither."""
    stacks = {s.stack_name: s for s in standby_synth.assembly(profile).stacks}
    depends = {name: {d.id for d in stack.dependencies} for name, stack in stacks.items()}
    assert "StandbyKey" in depends["StandbyPrimary"]
    assert "StandbyPrimary" in depends["Standby"]
    assert "StandbyPrimary" in depends["StandbyMonitor"]


@pytest.mark.parametrize("strategy", [PILOT_LIGHT, WARM_STANDBY])
def test_every_template_passes_cfn_lint(profile: str, strategy: str) -> None:
    ignored = ["W3005"]  # as .cfnlintrc.yaml: CDK's own generated DependsOn
    for name, document in _templates(profile, strategy).items():
        findings = lint(json.dumps(document), config=ManualArgs(ignore_checks=ignored, regions=[PRIMARY]))
        assert [f"{name}: {m.rule.id} {m.message}" for m in findings] == []


def test_no_value_crosses_regions_by_a_strong_reference(profile: str) -> None:
    """CDK's strong cross-Region references lock the producer's value (aws/aws-cdk#27902): the
    Standby stacks must meet by name. The one import left is within the standby Region (the key)."""
    documents = _templates(profile)
    for name, document in documents.items():
        types = {r["Type"] for r in document["Resources"].values()}
        assert not any("CrossRegion" in t for t in types), name
    imports = [
        (name, value) for name, document in documents.items() for value in _walk(document, "Fn::ImportValue")
    ]
    assert {name for name, _ in imports} <= {"Standby"}
    assert all("StandbyKey" in _text(value) for _, value in imports)


def _walk(node: Any, key: str) -> list[Any]:
    if isinstance(node, dict):
        found = [node[key]] if key in node else []
        return found + [x for v in node.values() for x in _walk(v, key)]
    if isinstance(node, list):
        return [x for v in node for x in _walk(v, key)]
    return []


# Data ---------------------------------------------------------------------------------------------


def test_the_replica_is_encrypted_with_the_standby_regions_key_by_its_alias(profile: str) -> None:
    """A replica's key must be a key of the replica's Region; DynamoDB takes a key id, key ARN,
    alias name or alias ARN (AWS::DynamoDB::GlobalTable ReplicaSSESpecification)."""
    documents = _templates(profile)
    _, table = one(documents["StandbyPrimary"], "AWS::DynamoDB::GlobalTable", "OrdersTable/Table")
    replicas = {r["Region"]: r for r in table["Properties"]["Replicas"]}
    assert set(replicas) == {PRIMARY, STANDBY}
    ((_, alias),) = resources(documents["StandbyKey"], "AWS::KMS::Alias")
    key_arn = _text(replicas[STANDBY]["SSESpecification"]["KMSMasterKeyId"])
    assert f"arn:aws:kms:{STANDBY}:" in key_arn and f":{alias['Properties']['AliasName']}" in key_arn
    primary_key = resolve_ref(
        documents["StandbyPrimary"], replicas[PRIMARY]["SSESpecification"]["KMSMasterKeyId"]
    )
    assert documents["StandbyPrimary"]["Resources"][primary_key]["Type"] == "AWS::KMS::Key"
    for replica in replicas.values():
        assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
        assert {"Key": "refarch:backup", "Value": "daily"} in replica["Tags"]


def _handler(document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return one(document, "AWS::Lambda::Function", "/Orders/Handler/")


def _policy_of(document: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for _, policy in resources(document, "AWS::IAM::Policy")
        if any(resolve_ref(document, r) == role_id for r in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_standby_api_reads_the_replica_by_name_and_may_use_its_key(profile: str) -> None:
    """DynamoDB serves a replica under the table's name in its Region; reading and writing an
    item of a table encrypted with a customer-managed key needs kms:Decrypt and
    kms:GenerateDataKey on that key (DynamoDB DG, encryption at rest)."""
    documents = _templates(profile)
    _, table = one(documents["StandbyPrimary"], "AWS::DynamoDB::GlobalTable", "OrdersTable/Table")
    name = table["Properties"]["TableName"]
    standby = documents["Standby"]
    _, function = _handler(standby)
    assert function["Properties"]["Environment"]["Variables"]["TABLE_NAME"] == name
    role = resolve_ref(standby, function["Properties"]["Role"])
    statements = _policy_of(standby, role)
    data = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
    assert any(
        f":dynamodb:{STANDBY}:" in _text(s["Resource"]) and f"table/{name}" in _text(s["Resource"])
        for s in data
    )
    kms = [s for s in statements if "kms:Decrypt" in _text(s["Action"])]
    assert kms and all("kms:GenerateDataKey" in _text(s["Action"]) for s in kms)
    assert all("StandbyKey" in _text(s["Resource"]) for s in kms)  # the replica's key, imported
    # and the primary's handler on the primary's key
    primary = documents["StandbyPrimary"]
    _, primary_function = _handler(primary)
    primary_kms = [
        s
        for s in _policy_of(primary, resolve_ref(primary, primary_function["Properties"]["Role"]))
        if "kms:Decrypt" in _text(s["Action"])
    ]
    key_id = resolve_ref(primary, table["Properties"]["Replicas"][-1]["SSESpecification"]["KMSMasterKeyId"])
    assert any(resolve_ref(primary, s["Resource"]) == key_id for s in primary_kms)


def test_replication_latency_alarms_watch_each_direction(profile: str) -> None:
    """DynamoDB publishes ReplicationLatency in the Region of the write, one series per
    ReceivingRegion ("DynamoDB metrics and dimensions"): the primary's alarm watches the
    standby as receiver, the standby's (writes after a failover) the primary."""
    for stack, receiver in (("StandbyPrimary", STANDBY), ("Standby", PRIMARY)):
        alarms = [
            a["Properties"]
            for _, a in resources(_templates(profile)[stack], "AWS::CloudWatch::Alarm")
            if a["Properties"].get("MetricName") == "ReplicationLatency"
        ]
        assert len(alarms) == 1, stack
        dimensions = {d["Name"]: d["Value"] for d in alarms[0]["Dimensions"]}
        assert dimensions["ReceivingRegion"] == receiver
        assert alarms[0]["Namespace"] == "AWS/DynamoDB" and alarms[0]["AlarmActions"]


# Route 53 -----------------------------------------------------------------------------------------


def _record(document: dict[str, Any]) -> dict[str, Any]:
    _, record = one(document, "AWS::Route53::RecordSet", "/Failover/Record")
    return dict(record["Properties"])


def test_the_primary_record_carries_a_health_check_of_the_primary_api(profile: str) -> None:
    """Route 53 treats a failover record without a health check as always healthy, so a primary
    without one never fails over ("How Amazon Route 53 chooses records when health checking is
    configured"). The check probes the primary API's own endpoint, not the failover name."""
    document = _templates(profile)["StandbyPrimary"]
    record = _record(document)
    assert record["Failover"] == "PRIMARY"
    check = document["Resources"][resolve_ref(document, record["HealthCheckId"])]
    assert check["Type"] == "AWS::Route53::HealthCheck"
    config = check["Properties"]["HealthCheckConfig"]
    assert config["Type"] == "HTTPS" and config["EnableSNI"] and config["Port"] == 443
    api_id, _ = one(document, "AWS::ApiGateway::RestApi", "/Orders/Api/")
    fqdn = _text(config["FullyQualifiedDomainName"])
    assert api_id in fqdn and f".execute-api.{PRIMARY}." in fqdn
    assert config["ResourcePath"]["Fn::Join"][1][-1] == "/health"


def test_the_health_path_answers_without_a_token(profile: str) -> None:
    """Route 53's health checkers send no Authorization header: behind the Cognito authorizer
    the path would answer 401 and the primary would always look down."""
    for stack in ("StandbyPrimary", "Standby"):
        document = _templates(profile)[stack]
        resource_id, resource = one(document, "AWS::ApiGateway::Resource", "/Orders/Api/Default/health")
        assert resource["Properties"]["PathPart"] == "health"
        methods = [
            m["Properties"]
            for _, m in resources(document, "AWS::ApiGateway::Method")
            if m["Properties"].get("ResourceId") == {"Ref": resource_id}
        ]
        assert [(m["HttpMethod"], m["AuthorizationType"]) for m in methods] == [("GET", "NONE")]
        handler_id, _ = _handler(document)  # and the integration calls the orders handler
        # (in production through its `live` alias, which SnapStart needs: it applies to versions)
        aliases = [
            alias_id
            for alias_id, alias in resources(document, "AWS::Lambda::Alias")
            if alias["Properties"]["FunctionName"] == {"Ref": handler_id}
        ]
        uri = _text(methods[0]["Integration"]["Uri"])
        assert any(target in uri for target in [handler_id, *aliases])


# Route 53 runs about 15-16 health checkers per check, each probing once per RequestInterval,
# uncoordinated, so "you'll sometimes see several requests per second regardless of the interval
# you chose" ("How Amazon Route 53 determines whether a health check is healthy", Route 53 DG);
# a checker answered 429 counts a failure (only 2xx/3xx pass).
CHECKERS = 16


def _health_setting(document: dict[str, Any]) -> dict[str, Any] | None:
    """The stage's MethodSettings entry for GET /health, by the resource's own path (API Gateway
    names a method setting `/<resource path with / escaped as ~1>` and the method)."""
    _, resource = one(document, "AWS::ApiGateway::Resource", "/Orders/Api/Default/health")
    path = "/~1" + resource["Properties"]["PathPart"]
    _, stage = one(document, "AWS::ApiGateway::Stage", "/Orders/Api/DeploymentStage")
    entries = [
        entry
        for entry in stage["Properties"]["MethodSettings"]
        if entry["ResourcePath"] == path and entry["HttpMethod"] == "GET"
    ]
    assert len(entries) <= 1
    return entries[0] if entries else None


def test_the_health_method_has_its_own_throttle_that_holds_route53s_checkers(profile: str) -> None:
    """A method's own MethodSettings limits apply to it in place of the stage's default ("Throttle
    requests to your REST APIs", API Gateway DG), which is itself applied per method ("Per-API,
    per-stage throttling limits are applied at the API method level for a stage"): the entry must
    hold all the checkers probing at once (burst) and their rate at the check's RequestInterval,
    read from the same template. Without it the health method gets the stage default, which a
    user may set below that, and a 429 fails the check: DNS then moves to a standby that may be at
    concurrency 0."""
    for stack in ("StandbyPrimary", "Standby"):
        document = _templates(profile)[stack]
        assert _health_setting(document) is not None, stack
    document = _templates(profile)["StandbyPrimary"]
    setting = _health_setting(document)
    assert setting is not None
    _, check = one(document, "AWS::Route53::HealthCheck", "/Failover/HealthCheck")
    interval = check["Properties"]["HealthCheckConfig"]["RequestInterval"]
    assert setting["ThrottlingRateLimit"] >= CHECKERS / interval
    assert setting["ThrottlingBurstLimit"] >= CHECKERS
    # and it logs and counts like every other method (an override is not merged with the default)
    _, stage = one(document, "AWS::ApiGateway::Stage", "/Orders/Api/DeploymentStage")
    (default,) = [e for e in stage["Properties"]["MethodSettings"] if e["ResourcePath"] == "/*"]
    for field in ("LoggingLevel", "MetricsEnabled", "DataTraceEnabled"):
        assert setting.get(field) == default.get(field), field


def test_a_stage_throttled_below_the_checkers_rate_leaves_the_health_method_enough() -> None:
    """A 10-second check (16 checkers: 1.6 requests a second) on an API whose users get 1 request a
    second per method: the health method keeps its own, higher limit."""
    from aws_cdk import Duration
    from aws_cdk import aws_route53 as route53
    from aws_cdk.assertions import Template

    from patterns.serverless_api import Route, ServerlessApi
    from patterns.standby import FailoverEndpoint
    from stacks.paths import lambda_dir
    from tests.kit import bare_stack

    stack = bare_stack()
    api = ServerlessApi(
        stack,
        "Orders",
        code_dir=lambda_dir("orders_api"),
        handler="app.handler",
        routes=[Route("GET", "/orders")],
        profile=SANDBOX,
        throttling_rate_limit=1,
        throttling_burst_limit=1,
    )
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0EXAMPLE", zone_name="example.test"
    )
    FailoverEndpoint(
        stack,
        "Failover",
        api=api,
        zone=zone,
        domain_name="api.example.test",
        primary=True,
        health_check_interval=Duration.seconds(10),
    )
    document = Template.from_stack(stack).to_json()
    setting = _health_setting(document)
    assert setting is not None
    _, check = one(document, "AWS::Route53::HealthCheck", "/Failover/HealthCheck")
    interval = check["Properties"]["HealthCheckConfig"]["RequestInterval"]
    assert interval == 10
    assert setting["ThrottlingRateLimit"] >= CHECKERS / interval
    assert setting["ThrottlingBurstLimit"] >= CHECKERS


def test_both_regions_answer_the_same_name_through_their_own_regional_domain(profile: str) -> None:
    """A regional custom domain needs an ACM certificate in its own Region, and the name clients
    call must exist in both Regions for the TLS name to match after a failover (API Gateway DG,
    "Configure custom health checks for DNS failover"). An alias to an API Gateway regional
    domain names that domain's regional hosted zone, not the record's zone (Route 53 API,
    AliasTarget); Route 53 refuses a failover alias without EvaluateTargetHealth."""
    failovers = {}
    for stack in ("StandbyPrimary", "Standby"):
        document = _templates(profile)[stack]
        domain_id, domain = one(document, "AWS::ApiGateway::DomainName", "/Failover/Domain")
        properties = domain["Properties"]
        assert properties["DomainName"] == API_DOMAIN
        assert properties["EndpointConfiguration"]["Types"] == ["REGIONAL"]
        certificate = document["Resources"][resolve_ref(document, properties["RegionalCertificateArn"])]
        assert certificate["Type"] == "AWS::CertificateManager::Certificate"
        record = _record(document)
        alias = record["AliasTarget"]
        assert alias["HostedZoneId"] == {"Fn::GetAtt": [domain_id, "RegionalHostedZoneId"]}
        assert alias["DNSName"] == {"Fn::GetAtt": [domain_id, "RegionalDomainName"]}
        assert alias["EvaluateTargetHealth"] is True
        assert record["HostedZoneId"] == EXAMPLE_CONTEXT["hosted_zone_id"]
        failovers[record["Failover"]] = (record["Name"], record["Type"], record["SetIdentifier"])
    assert set(failovers) == {"PRIMARY", "SECONDARY"}
    (p_name, p_type, p_set), (s_name, s_type, s_set) = failovers["PRIMARY"], failovers["SECONDARY"]
    assert (p_name, p_type) == (s_name, s_type) == (f"{API_DOMAIN}.", "A") and p_set != s_set
    assert "HealthCheckId" not in _record(_templates(profile)["Standby"])


def test_the_health_check_alarm_lives_in_us_east_1_on_the_primarys_check(profile: str) -> None:
    """Route 53 publishes HealthCheckStatus only in us-east-1 ("Monitoring health checks using
    CloudWatch"), and an alarm's SNS action must be a topic of the alarm's Region."""
    documents = _templates(profile)
    monitor = documents["StandbyMonitor"]
    ((_, alarm),) = resources(monitor, "AWS::CloudWatch::Alarm")
    properties = alarm["Properties"]
    assert (properties["Namespace"], properties["MetricName"]) == ("AWS/Route53", "HealthCheckStatus")
    assert properties["TreatMissingData"] == "breaching"
    (topic_ref,) = properties["AlarmActions"]
    assert monitor["Resources"][resolve_ref(monitor, topic_ref)]["Type"] == "AWS::SNS::Topic"
    (dimension,) = properties["Dimensions"]
    reader = resolve_ref(monitor, dimension["Value"]["Fn::Select"][1]["Fn::Split"][1])
    assert _reads_primary_parameter(
        monitor, reader, documents["StandbyPrimary"], index=dimension["Value"]["Fn::Select"][0]
    )


def _reads_primary_parameter(
    document: dict[str, Any],
    reader_id: str,
    primary: dict[str, Any],
    *,
    index: int,
    expect: str = "HealthCheck",
) -> bool:
    """Whether custom resource `reader_id` reads, in the primary Region, the SSM parameter the
    primary stack writes, and item `index` of that parameter is the primary's `expect`."""
    create = document["Resources"][reader_id]["Properties"]["Create"]
    assert isinstance(create, str), create  # the SDK call as CDK writes it: JSON, no tokens here
    call = json.loads(create)
    ((_, parameter),) = resources(primary, "AWS::SSM::Parameter")
    if (call["region"], call["action"], call["parameters"]["Name"]) != (
        PRIMARY,
        "getParameter",
        parameter["Properties"]["Name"],
    ):
        return False
    item = parameter["Properties"]["Value"]["Fn::Join"][1][index]
    if expect == "HealthCheck":
        return primary["Resources"][resolve_ref(primary, item)]["Type"] == "AWS::Route53::HealthCheck"
    if expect == "ResourcePath":
        (_, check), *_ = resources(primary, "AWS::Route53::HealthCheck")
        return bool(item == check["Properties"]["HealthCheckConfig"]["ResourcePath"])
    return expect in _text(item)


def _reader_calls(context: dict[str, Any] | None = None, **endpoint: Any) -> dict[str, str]:
    """The readers' Update call per consuming stack, synthesized (without the gate, for speed)
    with extra context and FailoverEndpoint props for the primary's endpoint."""
    paths = {"aws:cdk:enable-path-metadata": True}
    app = cdk.App(context=standby_synth.context("sandbox", **paths, **(context or {})))
    real = standby_stack.FailoverEndpoint
    configured = functools.partial(real, **endpoint) if endpoint else real
    with mock.patch.object(standby_stack, "FailoverEndpoint", configured):
        build_standby(app, profile=SANDBOX, described=str)
    assembly = app.synth()
    return {
        name: one(assembly.get_stack_by_name(name).template, "Custom::AWS", "/PrimaryHealth/Reader")[1][
            "Properties"
        ]["Update"]
        for name in ("Standby", "StandbyMonitor")
    }


def test_the_readers_read_again_when_the_primarys_check_can_have_changed() -> None:
    """CloudFormation sends a custom resource an Update only when its properties changed in the
    template (CloudFormation UG, "Custom resources", request types): a reader whose properties
    never change keeps the id of a health check Route 53 has since replaced (a new interval or
    type replaces it, AWS::Route53::HealthCheck), and the runbook, its policy and the alarm act
    on a deleted check. A changed check, or `-c standby_refresh=...` after StandbyPrimary was
    recreated (same template, new check), changes both readers; an unchanged primary does not
    (no needless reads)."""
    base = _reader_calls()
    assert _reader_calls() == base
    for changed in (
        _reader_calls(health_check_interval=cdk.Duration.seconds(10)),
        _reader_calls(failure_threshold=5),
        _reader_calls({"standby_refresh": "recreated-2026-12-02"}),
    ):
        assert all(changed[name] != base[name] for name in base), changed


# The runbook --------------------------------------------------------------------------------------


def _definition(document: dict[str, Any]) -> str:
    _, machine = one(document, "AWS::StepFunctions::StateMachine", "/Runbook/")
    return _text(machine["Properties"]["DefinitionString"])


def test_the_runbook_forces_the_primarys_real_check_down_and_restores_its_path(profile: str) -> None:
    """The shift points the primary's check at a resource the API lacks (API Gateway answers it
    403, which Route 53 counts as a failure, up or down) and never inverts it (an inverted check
    of a dead primary is healthy, "Inverting health checks"); failback writes back the check's
    own path. Id and path come from the parameter the primary stack writes, read in the primary
    Region, and the path read is the one the primary's check has."""
    documents = _templates(profile)
    standby, primary = documents["Standby"], documents["StandbyPrimary"]
    _, machine = one(standby, "AWS::StepFunctions::StateMachine", "/Runbook/")
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    readers = [rid for rid, _ in resources(standby, "Custom::AWS") if rid in _definition(standby)]
    assert len(readers) == 1
    assert _reads_primary_parameter(standby, readers[0], primary, index=0)
    assert _reads_primary_parameter(standby, readers[0], primary, index=2, expect="ResourcePath")
    paths = []  # what each updateHealthCheck writes: the token read (item 2), then literal text
    for index, part in enumerate(parts):
        if isinstance(part, str) and part.endswith('"ResourcePath":"'):
            assert parts[index + 1]["Fn::Select"][0] == 2, parts[index + 1]
            paths.append(parts[index + 2].split('"')[0])
    # every update writes one of the two: the check's own path (failback, rollbacks) or forced down
    assert set(paths) == {"", "/failed-over-by-runbook"}
    assert len(paths) == _definition(standby).count("route53:updateHealthCheck")
    assert '"Inverted":true' not in _definition(standby).replace("\\", "")


def test_pilot_light_holds_the_standby_at_zero_and_the_runbook_promotes_that_function(profile: str) -> None:
    """Reserved concurrency 0 throttles every invocation of a function; deleting it lets the
    function scale again (Lambda DG, "Configuring reserved concurrency")."""
    standby = _templates(profile, PILOT_LIGHT)["Standby"]
    handler_id, handler = _handler(standby)
    assert handler["Properties"]["ReservedConcurrentExecutions"] == 0
    definition = _definition(standby)
    assert "lambda:deleteFunctionConcurrency" in definition and handler_id in definition
    primary = _templates(profile, PILOT_LIGHT)["StandbyPrimary"]
    assert "ReservedConcurrentExecutions" not in _handler(primary)[1]["Properties"]


@pytest.mark.parametrize("strategy", [PILOT_LIGHT, WARM_STANDBY])
def test_the_standbys_function_has_no_snapstart_that_idling_would_deactivate(strategy: str) -> None:
    """Lambda sets a SnapStart version that is not invoked for 14 days Inactive, and invoking it
    fails with SnapStartNotReadyException until it is re-activated (Lambda DG, "Troubleshooting
    SnapStart errors", Inactive functions). A standby is idle by design: in production (where
    ServerlessApi turns SnapStart on) the promoted pilot light would fail its verify and a warm
    standby its first requests after a failover. The primary, which serves, keeps SnapStart."""
    documents = _templates("production", strategy)
    standby = _handler(documents["Standby"])[1]["Properties"]
    assert standby.get("SnapStart", {}).get("ApplyOn", "None") == "None"
    primary = _handler(documents["StandbyPrimary"])[1]["Properties"]
    assert primary["SnapStart"]["ApplyOn"] == "PublishedVersions"


def test_a_warm_standby_serves_and_its_runbook_scales_nothing(profile: str) -> None:
    standby = _templates(profile, WARM_STANDBY)["Standby"]
    _, handler = _handler(standby)
    assert "ReservedConcurrentExecutions" not in handler["Properties"]
    definition = _definition(standby)
    assert "FunctionConcurrency" not in definition
    assert "route53:updateHealthCheck" in definition


def test_the_probe_checks_the_standby_api_and_the_primary_from_the_parameter(profile: str) -> None:
    documents = _templates(profile)
    standby = documents["Standby"]
    _, probe = one(standby, "AWS::Lambda::Function", "/Runbook/Probe/")
    variables = probe["Properties"]["Environment"]["Variables"]
    api_id, _ = one(standby, "AWS::ApiGateway::RestApi", "/Orders/Api/")
    assert api_id in _text(variables["STANDBY_HEALTH_URL"]) and "/health" in _text(
        variables["STANDBY_HEALTH_URL"]
    )
    primary_url = variables["PRIMARY_HEALTH_URL"]["Fn::Select"]
    assert primary_url[0] == 1
    reader = resolve_ref(standby, primary_url[1]["Fn::Split"][1])
    assert _reads_primary_parameter(standby, reader, documents["StandbyPrimary"], index=1, expect="/health")


def test_only_principals_granted_start_execution_may_run_the_runbook(profile: str) -> None:
    """A state machine has no resource policy: starting it needs states:StartExecution in an
    identity policy of this account. Nothing in the stacks grants it (operators are granted it
    on purpose), and the probe may be invoked by the state machine's role only."""
    for document in _templates(profile).values():
        for _, policy in resources(document, "AWS::IAM::Policy"):
            assert "states:StartExecution" not in _text(policy["Properties"]["PolicyDocument"])
    standby = _templates(profile)["Standby"]
    probe_id, _ = one(standby, "AWS::Lambda::Function", "/Runbook/Probe/")
    assert not [
        p
        for _, p in resources(standby, "AWS::Lambda::Permission")
        if resolve_ref(standby, p["Properties"]["FunctionName"]) == probe_id
    ]


# The health path in the handler -------------------------------------------------------------------


def test_the_health_path_answers_200_without_a_caller_and_without_touching_the_table() -> None:
    """Run for real against moto with no table at all: a read would fail, the answer does not."""
    import os

    with mock_aws():
        os.environ.update({"TABLE_NAME": "no-such-table", "OWNER_INDEX": "byOwner"})
        app = load_module("orders_api", "app", alias="health")
        response = app.handler(proxy_event("GET", "/health", caller=None), FakeContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}


def test_the_stack_ids_are_the_ones_the_kit_registers() -> None:
    from stacks import CONTEXT_STACK_IDS

    assert set(STANDBY_STACK_IDS) <= set(CONTEXT_STACK_IDS)
    assert {s.stack_name for s in standby_synth.assembly("sandbox").stacks} == set(STANDBY_STACK_IDS)
    assert all(
        path_of(r)
        for r in _templates("sandbox")["Standby"]["Resources"].values()
        if r["Type"] != "AWS::CDK::Metadata"
    )


def test_a_refresh_known_only_at_deploy_time_fails_naming_the_prop() -> None:
    """A token would be the same text in every template, so it would never trigger a read."""
    from patterns.standby import RemoteParameter
    from tests.kit import bare_stack

    with pytest.raises(PropError, match="refresh"):
        RemoteParameter(
            bare_stack(),
            "Read",
            profile=SANDBOX,
            region=PRIMARY,
            parameter_name="/x",
            refresh=cdk.Aws.STACK_NAME,
        )


def documented_deploys(text: str) -> list[str]:
    """Every `cdk deploy` command in a Markdown page, whole: a shell line continued with a
    backslash is joined to the next, and an inline code span wrapped over two lines of prose is
    one command (Markdown renders the line break as a space)."""
    import re

    text = re.sub(r"\\[ \t]*\r?\n", " ", text)
    fence = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
    commands = [line for block in fence.findall(text) for line in block.splitlines()]
    spans = re.findall(r"`([^`]+)`", fence.sub("", text))
    commands += [span for span in spans if "\n\n" not in span]
    return [" ".join(c[c.index("cdk deploy") :].split()) for c in commands if "cdk deploy" in c]


def test_a_wrapped_deploy_command_is_read_whole() -> None:
    page = (
        "Deploy it alone: `npx cdk deploy -c standby_strategy=warm-standby\n  Standby`.\n\n"
        "```\nnpx cdk deploy -c domain=example.com \\\n  StandbyMonitor\n```\n"
    )
    assert sorted(documented_deploys(page)) == [
        "cdk deploy -c domain=example.com StandbyMonitor",
        "cdk deploy -c standby_strategy=warm-standby Standby",
    ]


def test_every_documented_deploy_of_standby_stacks_alone_is_exclusive() -> None:
    """`cdk deploy <stack>` deploys the stack's dependencies first unless `--exclusively` is given
    (AWS CDK CLI reference, `cdk deploy --exclusively`: "only deploy requested stacks, don't
    include dependencies"); `Standby` and `StandbyMonitor` depend on `StandbyPrimary`, in the
    primary Region, which in an outage is the Region that is down."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    commands = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for command in documented_deploys(page.read_text()):
            names = set(re.findall(r"\bStandby\w*\b", command))
            if names and "--all" not in command:
                commands.append((page.name, command))
                assert "--exclusively" in command, (page.name, command)
    assert commands  # the page does document such a deploy
