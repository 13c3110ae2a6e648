"""The failover wiring rule on templates CDK writes, and on the Standby stack's own primary
with its health check removed."""

from __future__ import annotations

import copy
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_route53 as route53
from aws_cdk.assertions import Template

from patterns.wiring import RULES, Model, Settings
from tools import standby_synth


def findings(template: dict[str, Any]) -> list[str]:
    registered = next(r for r in RULES if r.id == "FailoverPrimaryHealthCheck")
    return [v.resource.logical_id for v in registered.check(Model({"Dns": template}), Settings())]


def records(health_check: bool) -> dict[str, Any]:
    """L1 records, as a user writing them by hand would (CDK's ARecord refuses a PRIMARY
    without a health check at synth, so the rule guards CfnRecordSet and imported templates)."""
    stack = cdk.Stack(cdk.App(), "Dns")
    check = route53.CfnHealthCheck(
        stack,
        "Check",
        health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
            type="HTTPS", fully_qualified_domain_name="a.example.test", resource_path="/health"
        ),
    )
    for name, address in (("PRIMARY", "192.0.2.1"), ("SECONDARY", "192.0.2.2")):
        route53.CfnRecordSet(
            stack,
            name.title(),
            name="api.example.test.",
            type="A",
            hosted_zone_id="Z0EXAMPLE",
            set_identifier=name.lower(),
            failover=name,
            resource_records=[address],
            ttl="60",
            health_check_id=check.attr_health_check_id if health_check and name == "PRIMARY" else None,
        )
    return Template.from_stack(stack).to_json()


def test_a_primary_without_a_health_check_is_found_and_a_secondary_is_not() -> None:
    template = records(health_check=False)
    (found,) = findings(template)
    assert template["Resources"][found]["Properties"]["Failover"] == "PRIMARY"
    assert findings(records(health_check=True)) == []


def test_the_standby_primary_passes_and_fails_once_its_check_is_removed() -> None:
    primary = copy.deepcopy(standby_synth.templates("sandbox")["StandbyPrimary"])
    assert findings(primary) == []
    for resource in primary["Resources"].values():
        if resource["Type"] == "AWS::Route53::RecordSet":
            resource["Properties"].pop("HealthCheckId", None)
    assert len(findings(primary)) == 1
