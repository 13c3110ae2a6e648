"""CrossRegionReplica and LatencyRecord alone, and the DataTier props they rely on: bad props
fail at synth naming the prop; existing resources are used, not duplicated."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from patterns.global_reads import CrossRegionReplica, LatencyRecord
from patterns.multi_tier import DataTier, Network
from patterns.shared.props import PropError
from tests.kit import CDK_JSON_CONTEXT, PATH_METADATA

READ = "ap-northeast-1"


def read_stack() -> cdk.Stack:
    app = cdk.App(context={**CDK_JSON_CONTEXT, **PATH_METADATA})
    return cdk.Stack(app, "Reads", env=cdk.Environment(region=READ))


def network(stack: cdk.Stack) -> Network:
    return Network(stack, "Network", interface_endpoints=False)


def replica(stack: cdk.Stack, **props: Any) -> CrossRegionReplica:
    given = {"source_region": "us-east-1", "source_instance_identifier": "home-writer", **props}
    return CrossRegionReplica(stack, "Replica", vpc=network(stack).vpc, **given)


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"source_region": READ}, "source_region"),  # the stack's own Region: not cross-Region
        ({"source_region": "virginia"}, "source_region"),
        ({"source_instance_identifier": "Home_Writer"}, "source_instance_identifier"),
        ({"source_instance_identifier": "home--writer"}, "source_instance_identifier"),
        ({"source_instance_identifier": "writer-"}, "source_instance_identifier"),
        ({"instance_type": "t4g.micro"}, "instance_type"),  # L1: the db. prefix is RDS's, required
        ({"port": 5432}, "port"),
        ({"port": 80}, "port"),
        ({"max_lag": Duration.millis(1500)}, "max_lag"),
        ({"max_lag": Duration.hours(2)}, "max_lag"),
        ({"key": "arn:aws:kms:ap-northeast-1:111111111111:key/x"}, "key"),
    ],
)
def test_a_bad_replica_prop_fails_naming_it(props: dict[str, Any], prop: str) -> None:
    with pytest.raises(PropError, match=f"^{prop}:"):
        replica(read_stack(), **props)


def test_a_key_of_another_region_is_refused() -> None:
    """A KMS key is usable only in its own Region; a cross-Region replica needs a key of the
    Region it is created in (RDS User Guide, "Creating a read replica in a different AWS
    Region": KmsKeyId is "the AWS KMS key identifier for the destination AWS Region")."""
    stack = read_stack()
    home_key = kms.Key.from_key_arn(stack, "HomeKey", "arn:aws:kms:us-east-1:111111111111:key/1234abcd")
    with pytest.raises(PropError, match=r"^key: the key is in us-east-1; the replica is in ap-northeast-1"):
        replica(stack, key=home_key)


def test_an_existing_key_and_topic_are_used_not_duplicated() -> None:
    stack = read_stack()
    arn = f"arn:aws:kms:{READ}:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key = kms.Key.from_key_arn(stack, "TheirKey", arn)
    topic = sns.Topic.from_topic_arn(stack, "TheirTopic", f"arn:aws:sns:{READ}:111111111111:oncall")
    built = replica(stack, key=key, alarm_topic=topic)
    template = Template.from_stack(stack)
    made = [
        resource["Type"]
        for resource in template.to_json()["Resources"].values()
        if "/Replica/" in resource.get("Metadata", {}).get("aws:cdk:path", "")
    ]
    assert "AWS::KMS::Key" not in made and "AWS::SNS::Topic" not in made
    template.has_resource_properties("AWS::RDS::DBInstance", {"KmsKeyId": arn})
    assert built.key is key and built.alarm_topic is topic
    assert all(alarm.alarm_arn for alarm in built.alarms) and built.lag_alarm in built.alarms


def _balancer(stack: cdk.Stack) -> elbv2.IApplicationLoadBalancer:
    return elbv2.ApplicationLoadBalancer.from_application_load_balancer_attributes(
        stack,
        "Balancer",
        load_balancer_arn=f"arn:aws:elasticloadbalancing:{READ}:111111111111:loadbalancer/app/web/0123456789abcdef",
        security_group_id="sg-0123456789abcdef0",
        load_balancer_dns_name="web-1.ap-northeast-1.elb.amazonaws.com",
        load_balancer_canonical_hosted_zone_id="Z14GRHDCWA56QT",
    )


def latency(stack: cdk.Stack, **props: Any) -> LatencyRecord:
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0TEST", zone_name="shop.example.test"
    )
    given = {"record_name": "shop.example.test", "region": READ, "https": True, **props}
    return LatencyRecord(stack, "Latency", zone=zone, load_balancer=_balancer(stack), **given)


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        # Route 53 health checks run every 30 s (standard) or 10 s (fast), nothing else
        # (Route 53 API, HealthCheckConfig RequestInterval).
        ({"request_interval": Duration.seconds(20)}, "request_interval"),
        ({"failure_threshold": 11}, "failure_threshold"),  # 1 to 10 (HealthCheckConfig)
        ({"health_check_path": "health"}, "health_check_path"),
        ({"record_name": "Shop Example"}, "record_name"),
        ({"region": "tokyo"}, "region"),
        ({"https": "yes"}, "https"),
    ],
)
def test_a_bad_latency_prop_fails_naming_it(props: dict[str, Any], prop: str) -> None:
    with pytest.raises(PropError, match=f"^{prop}:"):
        latency(read_stack(), **props)


def test_an_imported_load_balancer_is_aliased_by_its_own_canonical_zone() -> None:
    """The alias target of an ALB is its DNS name (CDK adds `dualstack.`) in the ALB's
    canonical hosted zone (Z14GRHDCWA56QT for ALBs in ap-northeast-1, Elastic Load Balancing
    endpoints and quotas), not the zone the record is in."""
    stack = read_stack()
    latency(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            "AliasTarget": {
                "DNSName": "dualstack.web-1.ap-northeast-1.elb.amazonaws.com",
                "HostedZoneId": "Z14GRHDCWA56QT",
            },
            "HostedZoneId": "Z0TEST",
            "Region": READ,
            "SetIdentifier": READ,
        },
    )


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"instance_identifier": "Writer"}, "instance_identifier"),
        ({"instance_identifier": "1writer"}, "instance_identifier"),
        ({"secret_replica_regions": "ap-northeast-1"}, "secret_replica_regions"),  # one string, not a list
        ({"secret_replica_regions": ["tokyo"]}, "secret_replica_regions"),
    ],
)
def test_a_bad_data_tier_naming_prop_fails_naming_it(props: dict[str, Any], prop: str) -> None:
    stack = read_stack()
    with pytest.raises(PropError, match=f"^{prop}:"):
        DataTier(stack, "Data", vpc=network(stack).vpc, **props)
