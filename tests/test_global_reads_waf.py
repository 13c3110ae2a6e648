"""The home Region's WAF and the read Region's forwarded requests.

Everything the read Region forwards home leaves through its few NAT addresses. WAF's per-IP
rate rule would count all read-Region users as one client each NAT address and block them all
(2,000 requests per 5 minutes is under 7 a second). The read Region's app adds a forwarding
token; the home rate rule's scope-down statement leaves out requests carrying it. AWS WAF
Developer Guide, "Using scope-down statements" and "Applying rate limiting to requests": "If
you define a scope-down statement for the rule, AWS WAF only aggregates, counts, and rate
limits requests that match the scope-down statement." A byte match statement with positional
constraint EXACTLY matches when the field equals the search string (after its text
transformations, here NONE); a NOT statement inverts its statement. CloudFormation resolves a
`{{resolve:secretsmanager:...}}` reference in any resource property ("Get a secret or secret
value from Secrets Manager", CloudFormation User Guide).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from stacks.global_reads_stack import EXAMPLE_CONTEXT, HOME_STACK_ID, READ_STACK_ID
from tests.kit import example_assembly, one, resources
from tests.local_servers import load_web_app
from tests.test_global_reads_stack import _app_environment, _joined

regions = load_web_app()["regions"]
DYNAMIC_REFERENCE = re.compile(r"^\{\{resolve:secretsmanager:([^:}]+):SecretString\}\}$")


def template(stack: str) -> dict[str, Any]:
    return example_assembly("production").get_stack_by_name(stack).template


def matches(statement: dict[str, Any], headers: dict[str, str], secrets: dict[str, str]) -> bool:
    """WAF's verdict on a statement of the kinds the rule uses (NOT, byte match on one header)."""
    if "NotStatement" in statement:
        return not matches(statement["NotStatement"]["Statement"], headers, secrets)
    byte_match = statement["ByteMatchStatement"]
    assert byte_match["PositionalConstraint"] == "EXACTLY"
    assert byte_match["TextTransformations"] == [{"Priority": 0, "Type": "NONE"}]
    wanted = byte_match["SearchString"]
    if reference := DYNAMIC_REFERENCE.match(wanted):  # as CloudFormation resolves it
        wanted = secrets[reference[1]]
    name = byte_match["FieldToMatch"]["SingleHeader"]["Name"].lower()  # WAF: case-insensitive
    sent = {key.lower(): value for key, value in headers.items()}
    return sent.get(name) == wanted


def rate_rule(document: dict[str, Any]) -> dict[str, Any]:
    _, acl = one(document, "AWS::WAFv2::WebACL", "/Web/")
    (rule,) = [rule for rule in acl["Properties"]["Rules"] if "RateBasedStatement" in rule["Statement"]]
    return rule["Statement"]["RateBasedStatement"]


def test_forwarded_requests_are_not_counted_by_the_home_rate_rule_but_direct_clients_are() -> None:
    home, reads = template(HOME_STACK_ID), template(READ_STACK_ID)
    rule = rate_rule(home)
    assert rule["AggregateKeyType"] == "IP"
    # The token the read app sends: the secret its environment names, made by the home stack and
    # replicated into the read Region under the same name.
    token_name = _app_environment(reads)["FORWARDING_TOKEN_SECRET"]
    (secret,) = [
        resource
        for _, resource in [one(home, "AWS::SecretsManager::Secret", "/ForwardingToken/")]
        if resource["Properties"]["Name"] == token_name
    ]
    assert secret["Properties"]["ReplicaRegions"] == [{"Region": EXAMPLE_CONTEXT["read_region"]}]
    assert secret["Properties"]["GenerateSecretString"]["ExcludePunctuation"] is True
    secrets = {token_name: "s3cretTokenValue"}
    forwarded = {"Content-Type": "application/json", regions.FORWARDING_TOKEN_HEADER: "s3cretTokenValue"}
    counted = rule.get("ScopeDownStatement")
    assert counted is not None, "every request is counted: read-Region users are throttled as one IP"
    assert not matches(counted, forwarded, secrets)
    assert matches(counted, {"Content-Type": "application/json"}, secrets)  # a direct client
    for guess in ("", "true", "1", "s3cretTokenValu", "S3CRETTOKENVALUE", "s3cretTokenValue "):
        spoofed = {regions.FORWARDING_TOKEN_HEADER.lower(): guess}
        assert matches(counted, spoofed, secrets), f"a client sending {guess!r} escapes the rate rule"
    # The WAF reads the token only once the secret exists.
    (acl_id,) = [key for key, value in home["Resources"].items() if value["Type"] == "AWS::WAFv2::WebACL"]
    secrets_ids = [
        key for key, value in home["Resources"].items() if value["Type"] == "AWS::SecretsManager::Secret"
    ]
    (token_id,) = [key for key in secrets_ids if "ForwardingToken" in key]
    assert token_id in home["Resources"][acl_id].get("DependsOn", [])


def test_the_read_app_may_read_the_forwarding_token_in_its_own_region() -> None:
    reads = template(READ_STACK_ID)
    name = _app_environment(reads)["FORWARDING_TOKEN_SECRET"]
    granted = [
        _joined(resource)
        for _, policy in resources(reads, "AWS::IAM::Policy", "/Web/InstanceRole/")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in statement["Action"]
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
    ]
    assert f"arn:aws:secretsmanager:{EXAMPLE_CONTEXT['read_region']}:<ref>:secret:{name}-??????" in granted


@pytest.mark.parametrize("header", [("", "x"), ("X-Token", ""), ("only-one",)])
def test_a_malformed_exempt_header_fails_at_synth_naming_the_prop(header: tuple[str, ...]) -> None:
    from aws_cdk import aws_ec2 as ec2

    from patterns.multi_tier import Network, WebTier
    from tests.kit import bare_stack

    stack = bare_stack()
    network = Network(stack, "Network")
    with pytest.raises(ValueError, match="waf_rate_exempt_header"):
        WebTier(stack, "Web", vpc=network.vpc, user_data=ec2.UserData.for_linux(),
                waf_rate_exempt_header=header)  # type: ignore[arg-type]  # fmt: skip
