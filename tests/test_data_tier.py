"""The data tier's wiring as AWS services require it, and the app's ElastiCache IAM token.

Each test names the AWS behaviour it encodes; the construct's own settings are not restated.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from botocore.credentials import Credentials

from patterns.multi_tier import DataTier, ValkeyCache
from tests.kit import bare_stack, one, path_of, resources, template_json
from tests.local_servers import load_web_app
from tests.test_multi_tier_app import stack_environment
from tests.test_multi_tier_stack import imported_vpc, props, synth

ENGINE_DEFAULT_PORT = 5432  # PostgreSQL's, on which RDS Proxy listens


def port(doc: dict[str, Any], value: Any) -> int:
    """A port, literal or the deploy-time `Endpoint.Port` of a database (its `Port` property)."""
    if isinstance(value, dict):
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Endpoint.Port"
        return int(doc["Resources"][logical_id]["Properties"]["Port"])
    return int(value)


def group_path(doc: dict[str, Any], value: Any) -> str:
    return path_of(doc["Resources"][value["Fn::GetAtt"][0]])


def rules_of(doc: dict[str, Any], kind: str, group_fragment: str) -> list[dict[str, Any]]:
    """Standalone ingress/egress rules of the security group whose path contains the fragment."""
    return [
        props(rule)
        for rule in resources(doc, f"AWS::EC2::SecurityGroup{kind}")
        if group_fragment in group_path(doc, props(rule)["GroupId"])
    ]


@pytest.mark.parametrize("profile", ["sandbox", "production"])
def test_clients_reach_the_proxy_on_the_engine_default_port_and_replicas_on_the_database_port(
    profile: str,
) -> None:
    """RDS Proxy listens on the engine's default port (5432 for PostgreSQL) whatever port the
    database uses, and the port cannot be changed (AWS, "Limitations for RDS Proxy";
    aws/aws-cdk discussion #28321). Replicas are reached directly, on the database's port."""
    doc = template_json("MultiTier", profile)
    writer_port = int(props(one(doc, "AWS::RDS::DBInstance", "Data/Writer/"))["Port"])
    assert writer_port != ENGINE_DEFAULT_PORT  # the case the proxy's port matters for
    env = stack_environment(profile)
    assert int(env["DB_WRITER_PORT"]) == ENGINE_DEFAULT_PORT
    assert int(env["DB_READER_PORT"]) == writer_port
    web_rules = [
        r for r in rules_of(doc, "Ingress", "Data/") if "Web/" in group_path(doc, r["SourceSecurityGroupId"])
    ]
    opened = {group_path(doc, r["GroupId"]).split("/")[2]: (r["FromPort"], r["ToPort"]) for r in web_rules}
    assert opened["ProxySecurityGroup"] == (ENGINE_DEFAULT_PORT, ENGINE_DEFAULT_PORT)
    assert opened["ReplicaSecurityGroup"] == (writer_port, writer_port)
    # The proxy itself connects to the writer on the database's port.
    to_writer = [
        r
        for r in rules_of(doc, "Ingress", "Data/DatabaseSecurityGroup")
        if "Proxy" in group_path(doc, r["SourceSecurityGroupId"])
    ]
    assert [(port(doc, r["FromPort"]), port(doc, r["ToPort"])) for r in to_writer] == [
        (writer_port, writer_port)
    ]


@pytest.mark.parametrize("profile", ["sandbox", "production"])
def test_the_rotation_function_may_reach_only_the_writer_and_secrets_manager(profile: str) -> None:
    """The single-user rotation function calls Secrets Manager (HTTPS) and signs in to the
    database (AWS, "Network access for the rotation function"); nothing else. A security group
    without outbound rules sends nothing (EC2 security groups are allow lists), and traffic to
    the VPC's DNS resolver is never filtered by them, so no DNS rule is needed."""
    doc = template_json("MultiTier", profile)
    rotation_id, rotation = one(doc, "AWS::EC2::SecurityGroup", "Data/RotationSecurityGroup")
    inline = rotation["Properties"].get("SecurityGroupEgress", [])
    # CDK's placeholder for "no egress": 255.255.255.255/32 ICMP 252-86, which matches nothing.
    assert all(rule["CidrIp"] == "255.255.255.255/32" for rule in inline), inline
    egress = rules_of(doc, "Egress", "Data/RotationSecurityGroup")
    writer_port = int(props(one(doc, "AWS::RDS::DBInstance", "Data/Writer/"))["Port"])
    destinations = sorted(
        (
            group_path(doc, r["DestinationSecurityGroupId"]).removesuffix("/Resource"),
            r["IpProtocol"],
            port(doc, r["FromPort"]),
            port(doc, r["ToPort"]),
        )
        for r in egress
    )
    assert destinations == [
        ("MultiTier/Data/DatabaseSecurityGroup", "tcp", writer_port, writer_port),
        ("MultiTier/Network/Vpc/SecretsManager/SecurityGroup", "tcp", 443, 443),  # the endpoint's
    ]
    assert rotation_id in json.dumps(
        props(one(doc, "AWS::SecretsManager::RotationSchedule", "Data/Writer/Secret"))["HostedRotationLambda"]
    )


def test_without_an_endpoint_given_rotation_and_proxy_reach_https_only_inside_the_vpc() -> None:
    stack = bare_stack()
    DataTier(stack, "Data", vpc=imported_vpc(stack))
    doc = synth(stack)
    for group in ("Data/RotationSecurityGroup", "Data/ProxySecurityGroup"):
        _, resource = one(doc, "AWS::EC2::SecurityGroup", group)
        cidr_rules = [(e["CidrIp"], e["FromPort"]) for e in resource["Properties"]["SecurityGroupEgress"]]
        assert cidr_rules == [("10.1.0.0/16", 443)], group


@pytest.mark.parametrize("profile", ["sandbox", "production"])
def test_the_writer_is_multi_az_in_both_profiles(profile: str) -> None:
    """A Multi-AZ writer fails over to its standby in another AZ (RDS, "Multi-AZ DB instance
    deployments"); the sandbox must show it, so `reboot-db-instance --force-failover` works."""
    doc = template_json("MultiTier", profile)
    assert props(one(doc, "AWS::RDS::DBInstance", "Data/Writer/"))["MultiAZ"] is True


@pytest.mark.parametrize("profile", ["sandbox", "production"])
def test_the_cache_takes_iam_authentication_and_holds_no_static_secret(profile: str) -> None:
    """ElastiCache IAM authentication ("Authenticating with IAM"): Valkey 7.2+, in-transit
    encryption on, a user with authentication mode iam whose user id equals its user name, in
    a user group attached to the replication group; a user group must hold a user named
    "default" (here switched off); the client's role needs elasticache:Connect on the
    replication group and the user. An AuthToken cannot be combined with user groups."""
    doc = template_json("MultiTier", profile)
    group_id, group = one(doc, "AWS::ElastiCache::ReplicationGroup", "Data/Cache")
    p = group["Properties"]
    assert tuple(int(n) for n in p["EngineVersion"].split(".")) >= (7, 2)
    assert p["TransitEncryptionEnabled"] is True and p["TransitEncryptionMode"] == "required"
    assert "AuthToken" not in p
    [user_group_ref] = p["UserGroupIds"]
    user_group = props((user_group_ref["Ref"], doc["Resources"][user_group_ref["Ref"]]))
    users = [props(r) for r in resources(doc, "AWS::ElastiCache::User", "Data/Cache")]
    assert sorted(user_group["UserIds"]) == sorted(u["UserId"] for u in users)
    by_name = {u["UserName"]: u for u in users}
    default = by_name.pop("default")
    assert default["AccessString"].split()[0] == "off"
    [app_user] = by_name.values()
    assert app_user["AuthenticationMode"] == {"Type": "iam"}
    assert app_user["UserId"] == app_user["UserName"]
    assert not list(resources(doc, "AWS::SecretsManager::Secret", "Data/Cache"))
    env = stack_environment(profile)
    assert (env["CACHE_AUTH"], env["CACHE_USER"], env["CACHE_TLS"]) == ("iam", app_user["UserId"], "1")
    statements = [
        s
        for s in props(one(doc, "AWS::IAM::Policy", "Web/InstanceRole/DefaultPolicy"))["PolicyDocument"][
            "Statement"
        ]
        if s["Action"] == "elasticache:Connect"
    ]
    [connect] = statements
    resources_json = json.dumps(connect["Resource"])
    assert "replicationgroup" in resources_json and group_id in resources_json
    user_id, _ = one(doc, "AWS::ElastiCache::User", "Data/Cache/AppUser")
    assert {"Fn::GetAtt": [user_id, "Arn"]} in connect["Resource"]
    assert "*" not in resources_json


def test_valkey_cache_refuses_an_access_string_that_leaves_its_user_off() -> None:
    """ElastiCache assigns `off` to a user whose access string has neither `on` nor `off`."""
    stack = bare_stack()
    with pytest.raises(ValueError, match="access_string: must start with 'on'"):
        ValkeyCache(stack, "Cache", vpc=imported_vpc(stack), access_string="~* +@all")


# -- the app's IAM token --------------------------------------------------------------------

CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")


def token_provider(**kwargs: Any) -> Any:
    return load_web_app()["cache_auth"].IamAuthToken(
        user_id="app-user",
        replication_group_id="my-cache",
        region="eu-west-1",
        credentials=CREDENTIALS,
        **kwargs,
    )


def sigv4_signature(token: str, secret_key: str) -> str:
    """The signature the AWS Signature Version 4 spec gives for a presigned GET, computed here
    from the spec ("Create a signed AWS API request"), independently of botocore."""
    url = urlsplit(f"https://{token}")
    query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k != "X-Amz-Signature"]
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query))
    # A GET has an empty payload; only S3 presigns with "UNSIGNED-PAYLOAD" in its place.
    empty_payload = hashlib.sha256(b"").hexdigest()
    canonical = "\n".join(["GET", url.path, canonical_query, f"host:{url.netloc}", "", "host", empty_payload])
    fields = dict(query)
    date = fields["X-Amz-Date"]
    scope = fields["X-Amz-Credential"].split("/", 1)[1]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_the_token_is_a_sigv4_presigned_connect_request_without_its_scheme() -> None:
    """ElastiCache's IAM token: GET https://<replication group id>/?Action=connect&User=<user id>,
    presigned with SigV4 for service `elasticache`, expiring in at most 900 s, sent without
    "https://" ("Authenticating with IAM", "Connecting")."""
    user, token = token_provider().get_credentials()
    assert user == "app-user" and not token.startswith("https://")
    url = urlsplit(f"https://{token}")
    assert (url.netloc, url.path) == ("my-cache", "/")
    fields = dict(parse_qsl(url.query))
    assert (fields["Action"], fields["User"]) == ("connect", "app-user")
    assert fields["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    signed_on = datetime.datetime.strptime(fields["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    assert fields["X-Amz-Credential"] == f"AKIDEXAMPLE/{signed_on:%Y%m%d}/eu-west-1/elasticache/aws4_request"
    assert fields["X-Amz-Expires"] == "900" and fields["X-Amz-SignedHeaders"] == "host"
    assert fields["X-Amz-Security-Token"] == "session-token"  # an instance role's credentials carry one
    assert fields["X-Amz-Signature"] == sigv4_signature(token, CREDENTIALS.secret_key)


def test_the_token_is_reused_for_ten_minutes_then_signed_again() -> None:
    """A token is valid for 15 minutes: reused well inside that, so each new connection does
    not sign, and never handed out when it is less than 5 minutes from expiring."""
    now = [0.0]
    provider = token_provider(clock=lambda: now[0])
    first = provider.get_credentials()
    now[0] = 599.0
    assert provider.get_credentials() == first
    now[0] = 600.0
    renewed = provider.get_credentials()
    assert renewed[0] == first[0]
    with pytest.raises(ValueError, match="refresh_after: must be between 0 and 900"):
        token_provider(refresh_after=900)
