"""The `GlobalReadsHome` and `GlobalReads` stacks, in both profiles, with and without their
context: what AWS will do with them once deployed (RDS, KMS, Secrets Manager, Route 53)."""

from __future__ import annotations

import json
import re
import tempfile
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from stacks import CONTEXT_STACK_IDS, build_app
from stacks.global_reads_stack import CONTEXT_KEYS, EXAMPLE_CONTEXT, HOME_STACK_ID, READ_STACK_ID, SKIPPED
from tests.kit import (
    CDK_JSON_CONTEXT,
    PATH_METADATA,
    PROFILES,
    ROOT,
    example_assembly,
    one,
    resolve_ref,
    resources,
)

HOME, READ = EXAMPLE_CONTEXT["home_region"], EXAMPLE_CONTEXT["read_region"]
CONTEXT = EXAMPLE_CONTEXT  # the seeds' example: Virginia home, Tokyo reads
STACKS = (HOME_STACK_ID, READ_STACK_ID)


def _assembly(profile: str) -> cdk.cx_api.CloudAssembly:
    return example_assembly(profile)  # the whole app with CONTEXT, the security gate included


def template(stack: str, profile: str) -> dict[str, Any]:
    return _assembly(profile).get_stack_by_name(stack).template


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _joined(value: Any) -> str:
    """A Fn::Join's literal pieces, with each reference written as <ref>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_joined(part) for part in parts)
    return "<ref>"


def _app_environment(document: dict[str, Any]) -> dict[str, str]:
    """The app's env file, as the launch template's user data writes it."""
    _, launch = one(document, "AWS::EC2::LaunchTemplate", "/Web/")
    script = _joined(launch["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"])
    body = script.split("cat > /etc/web_app.env <<'ENV'\n", 1)[1].split("\nENV", 1)[0]
    return dict(line.split("=", 1) for line in body.splitlines())


# -- context -------------------------------------------------------------------------------------


def test_without_context_one_line_says_what_builds_them(capsys: pytest.CaptureFixture[str]) -> None:
    app = build_app(cdk.App(context={**CDK_JSON_CONTEXT}))
    lines = [line for line in capsys.readouterr().err.splitlines() if READ_STACK_ID in line]
    assert lines == [SKIPPED]
    assert all(f"-c {key}=" in SKIPPED for key in CONTEXT_KEYS)
    built = {child.node.id for child in app.node.children}
    assert not built & set(STACKS)
    assert set(STACKS) <= set(CONTEXT_STACK_IDS)


@pytest.mark.parametrize("left_out", [("domain",), ("read_region", "hosted_zone_id")])
def test_partial_context_fails_naming_the_missing_keys(left_out: tuple[str, ...]) -> None:
    given = {key: value for key, value in CONTEXT.items() if key not in left_out}
    with pytest.raises(ValueError, match=f"context {', '.join(left_out)} missing"):
        build_app(cdk.App(context={**CDK_JSON_CONTEXT, **given}))


def test_the_same_region_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="home_region and read_region are both us-east-1"):
        build_app(cdk.App(context={**CDK_JSON_CONTEXT, **CONTEXT, "read_region": HOME}))


def test_each_stack_is_pinned_to_its_region_and_the_read_stack_deploys_after_home(profile: str) -> None:
    home, reads = (_assembly(profile).get_stack_by_name(stack) for stack in STACKS)
    assert (home.environment.region, reads.environment.region) == (HOME, READ)
    assert HOME_STACK_ID in [dependency.id for dependency in reads.dependencies]


# -- the replica ---------------------------------------------------------------------------------


def _replica(profile: str) -> dict[str, Any]:
    ((_, replica),) = resources(template(READ_STACK_ID, profile), "AWS::RDS::DBInstance")
    return dict(replica["Properties"])


def test_the_replica_names_the_home_writer_by_an_arn_in_the_home_region(profile: str) -> None:
    """A source in another Region must be given by ARN, `arn:aws:rds:<region>:<account>:db:<id>`
    (CloudFormation AWS::RDS::DBInstance SourceDBInstanceIdentifier; RDS User Guide, "Amazon
    Resource Names in Amazon RDS"), and no CloudFormation reference crosses Regions
    (aws/aws-cdk#27902): the ARN is built from the home writer's fixed identifier."""
    _, writer = one(template(HOME_STACK_ID, profile), "AWS::RDS::DBInstance", "/Data/Writer/")
    identifier = writer["Properties"]["DBInstanceIdentifier"]
    arn = _joined(_replica(profile)["SourceDBInstanceIdentifier"])
    assert arn == f"arn:aws:rds:{HOME}:<ref>:db:{identifier}"
    assert identifier == identifier.lower()  # RDS stores identifiers in lower case; ARNs use them so
    assert _replica(profile)["SourceRegion"] == HOME


def test_the_home_writer_keeps_automated_backups_so_it_can_be_a_source(profile: str) -> None:
    """ "Before a DB instance can serve as a source DB instance for replication, you must enable
    automatic backups on the source DB instance by setting the backup retention period to a
    value other than 0" (RDS User Guide, "Working with DB instance read replicas")."""
    _, writer = one(template(HOME_STACK_ID, profile), "AWS::RDS::DBInstance", "/Data/Writer/")
    assert writer["Properties"]["BackupRetentionPeriod"] >= 1
    assert writer["Properties"]["StorageEncrypted"] is True


def test_the_replica_is_encrypted_with_a_key_of_the_read_region(profile: str) -> None:
    """An encrypted cross-Region replica needs KmsKeyId, a key in the destination Region (KMS
    keys are Regional; RDS User Guide, "Creating a read replica in a different AWS Region"):
    the key is a resource of the read stack, which deploys in the read Region."""
    document = template(READ_STACK_ID, profile)
    key_id = resolve_ref(document, _replica(profile)["KmsKeyId"])
    assert document["Resources"][key_id]["Type"] == "AWS::KMS::Key"
    assert document["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True


def test_the_replica_is_private_and_reached_only_by_the_web_instances(profile: str) -> None:
    document = template(READ_STACK_ID, profile)
    replica = _replica(profile)
    assert replica["PubliclyAccessible"] is False
    (group,) = [resolve_ref(document, ref) for ref in replica["VPCSecurityGroups"]]
    ingress = [r["Properties"] for _, r in resources(document, "AWS::EC2::SecurityGroupIngress")
               if resolve_ref(document, r["Properties"]["GroupId"]) == group]  # fmt: skip
    assert [(rule["FromPort"], resolve_ref(document, rule["SourceSecurityGroupId"])) for rule in ingress] == [
        (int(replica["Port"]), one(document, "AWS::EC2::SecurityGroup", "/Web/InstanceSecurityGroup/")[0])
    ]


def test_the_lag_alarm_watches_the_replica_at_the_apps_own_bound_and_notifies(profile: str) -> None:
    """RDS publishes `ReplicaLag` (seconds) per replica in AWS/RDS. The alarm and the app's
    bound (past which it reads from home) are one figure: an alarm means reads have gone home."""
    document = template(READ_STACK_ID, profile)
    _, alarm = one(document, "AWS::CloudWatch::Alarm", "/Replica/LagAlarm/")
    props = alarm["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/RDS", "ReplicaLag")
    (dimension,) = props["Dimensions"]
    replica_id, _ = one(document, "AWS::RDS::DBInstance", "/Replica/")
    assert dimension == {"Name": "DBInstanceIdentifier", "Value": {"Ref": replica_id}}
    assert props["Threshold"] == float(_app_environment(document)["MAX_REPLICA_LAG"])
    (action,) = props["AlarmActions"]
    assert document["Resources"][resolve_ref(document, action)]["Type"] == "AWS::SNS::Topic"


# -- the read-only app ---------------------------------------------------------------------------


def test_the_read_app_reads_the_local_replica_and_sends_writes_to_the_home_name(profile: str) -> None:
    reads, home = template(READ_STACK_ID, profile), template(HOME_STACK_ID, profile)
    env = _app_environment(reads)
    _, replica = one(reads, "AWS::RDS::DBInstance", "/Replica/")
    assert (env["DB_READER_HOSTS"], env["DB_READER_PORT"]) == ("<ref>", replica["Properties"]["Port"])
    assert "DB_WRITER_HOST" not in env and "CACHE_HOST" not in env  # no writer, no cache here
    _, home_name = one(home, "AWS::Route53::RecordSet", "/HomeName/")
    scheme = "https" if profile == "production" else "http"
    assert env["HOME_URL"] == f"{scheme}://{home_name['Properties']['Name'].rstrip('.')}"
    assert "Region" not in home_name["Properties"]  # a plain record: home.<domain> is home only


def test_the_read_app_reads_the_database_secret_replicated_into_its_own_region(profile: str) -> None:
    """Secrets Manager replicates a secret to the Regions in ReplicaRegions under the same name
    (Secrets Manager User Guide, "Replicate a secret to other Regions"); the read Region's app
    reads that replica, so opening connections does not need the home Region."""
    home, reads = template(HOME_STACK_ID, profile), template(READ_STACK_ID, profile)
    _, secret = one(home, "AWS::SecretsManager::Secret", "/Data/Writer/Secret/")
    assert secret["Properties"]["ReplicaRegions"] == [{"Region": READ}]
    name = secret["Properties"]["Name"]
    assert _app_environment(reads)["DB_SECRET_ARN"] == name
    statements = [s for _, policy in resources(reads, "AWS::IAM::Policy", "/Web/InstanceRole/")
                  for s in policy["Properties"]["PolicyDocument"]["Statement"]]  # fmt: skip
    granted = [_joined(resource) for s in statements if "secretsmanager:GetSecretValue" in s["Action"]
               for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]  # fmt: skip  # noqa: E501
    assert f"arn:aws:secretsmanager:{READ}:<ref>:secret:{name}-??????" in granted


# -- DNS -----------------------------------------------------------------------------------------


def _latency(stack: str, profile: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    document = template(stack, profile)
    _, record = one(document, "AWS::Route53::RecordSet", "/Latency/Record/")
    check = document["Resources"][resolve_ref(document, record["Properties"]["HealthCheckId"])]
    return document, record["Properties"], check["Properties"]["HealthCheckConfig"]


def test_both_regions_answer_one_name_by_latency_each_with_its_region(profile: str) -> None:
    """A latency record needs `Region` and a `SetIdentifier` unique among the records of its
    name and type (Route 53 API, ResourceRecordSet); Route 53 answers with the lowest-latency
    Region among the healthy ones."""
    (_, home, _), (_, reads, _) = (_latency(stack, profile) for stack in STACKS)
    assert home["Name"] == reads["Name"] == f"{CONTEXT['domain']}."
    assert (home["Region"], reads["Region"]) == (HOME, READ)
    assert home["SetIdentifier"] != reads["SetIdentifier"]
    assert home["HostedZoneId"] == reads["HostedZoneId"] == CONTEXT["hosted_zone_id"]


@pytest.mark.parametrize("stack", STACKS)
def test_each_record_aliases_its_own_load_balancer_by_its_canonical_zone(stack: str, profile: str) -> None:
    """An alias to an ALB names the load balancer's DNS name and its canonical hosted zone id,
    not the record's zone (Route 53 API, AliasTarget)."""
    document, record, _ = _latency(stack, profile)
    balancer, _ = one(document, "AWS::ElasticLoadBalancingV2::LoadBalancer", "/Web/")
    target = record["AliasTarget"]
    assert target["HostedZoneId"] == {"Fn::GetAtt": [balancer, "CanonicalHostedZoneID"]}
    assert {"Fn::GetAtt": [balancer, "DNSName"]} in target["DNSName"]["Fn::Join"][1]


@pytest.mark.parametrize("stack", STACKS)
def test_the_health_check_asks_the_load_balancer_what_it_serves_and_fails_open(
    stack: str, profile: str
) -> None:
    """Route 53 health checkers call the load balancer from the internet on the listener's
    protocol and port; the path is the app's shallow check, which answers 200 with the replica
    lagging or stopped (tests/test_global_reads_app.py), so only an unreachable tier takes the
    Region out of DNS."""
    document, _, check = _latency(stack, profile)
    balancer, _ = one(document, "AWS::ElasticLoadBalancingV2::LoadBalancer", "/Web/")
    listeners = {
        (listener["Properties"]["Protocol"], listener["Properties"]["Port"])
        for _, listener in resources(document, "AWS::ElasticLoadBalancingV2::Listener")
        if "DefaultActions" in listener["Properties"]
        and not any(action["Type"] == "redirect" for action in listener["Properties"]["DefaultActions"])
    }
    assert (check["Type"], check["Port"]) in listeners
    assert check["FullyQualifiedDomainName"] == {"Fn::GetAtt": [balancer, "DNSName"]}
    _, target_group = one(document, "AWS::ElasticLoadBalancingV2::TargetGroup", "/Web/")
    assert check["ResourcePath"] == target_group["Properties"]["HealthCheckPath"] == "/health"


# -- the whole -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_template_passes_cfn_lint(stack: str, profile: str) -> None:
    ignored = yaml.safe_load((ROOT / ".cfnlintrc.yaml").read_text())["ignore_checks"]
    findings = lint(json.dumps(template(stack, profile)), config=ManualArgs(ignore_checks=ignored, regions=[
        HOME if stack == HOME_STACK_ID else READ]))  # fmt: skip
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in findings] == []


def test_the_read_region_holds_one_database_the_replica_and_no_cache(profile: str) -> None:
    document = template(READ_STACK_ID, profile)
    types = [resource["Type"] for resource in document["Resources"].values()]
    assert types.count("AWS::RDS::DBInstance") == 1
    assert not [t for t in types if t.startswith(("AWS::ElastiCache::", "AWS::RDS::DBProxy"))]
    assert re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", _replica(profile)["DBInstanceClass"])


CERTIFICATE = "arn:aws:acm:{region}:123456789012:certificate/11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("certificates", "home_scheme"),
    [({"certificate_arn": CERTIFICATE.format(region=HOME)}, "https"),
     ({"read_certificate_arn": CERTIFICATE.format(region=READ)}, "http")],
    ids=["home-only", "read-only"],
)  # fmt: skip
def test_the_read_app_calls_home_by_homes_own_scheme(certificates: dict[str, str], home_scheme: str) -> None:
    """An ALB with a certificate answers port 80 only with a redirect (a forwarded write would
    come back 301); one without has no HTTPS listener (every forwarded write would fail). So the
    scheme of HOME_URL follows the home Region's certificate, whatever the read Region has."""
    context = {**CDK_JSON_CONTEXT, **PATH_METADATA, "profile": "sandbox", **CONTEXT, **certificates}
    assembly = build_app(cdk.App(context=context, outdir=tempfile.mkdtemp(prefix="cdk.out.scheme."))).synth()
    home, reads = (assembly.get_stack_by_name(name).template for name in STACKS)
    home_url = next(output["Value"] for key, output in home["Outputs"].items() if key.startswith("HomeUrl"))
    assert home_url.startswith(f"{home_scheme}://")  # home's own listener says so
    assert _app_environment(reads)["HOME_URL"] == f"{home_scheme}://home.{CONTEXT['domain']}"
    _, group = one(reads, "AWS::EC2::SecurityGroup", "/Web/InstanceSecurityGroup")
    egress_ports = {rule.get("FromPort") for rule in group["Properties"].get("SecurityGroupEgress", [])}
    assert (80 in egress_ports) == (home_scheme == "http")
