"""RPO, RTO and idle cost of pilot light and warm standby, read from the synthesized Standby
templates (tools/dr_table.py prints them beside backup and restore).

What the templates fix (health-check interval and threshold, whether the standby is throttled,
what bills monthly) is read; what they cannot know is an assumption in ASSUMPTIONS, printed
with the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patterns.backup.recovery import ALARM_MONTH, KMS_KEY_MONTH, Row

# DynamoDB global tables replicate asynchronously; "a newly written item is usually propagated to
# all replica tables within a second" (DynamoDB DG, "Global tables: how it works"), so a Region
# lost now loses what was written in about the last second (the latency alarm says when more).
REPLICATION_SECONDS = 1
# Price list, us-east-1 (aws.amazon.com/route53/pricing, /waf/pricing): a health check of an AWS
# endpoint, plus the HTTPS option; a web ACL and each of its rules.
HEALTH_CHECK_MONTH = 0.50
HEALTH_CHECK_HTTPS_MONTH = 1.00
WEB_ACL_MONTH = 5.00
WEB_ACL_RULE_MONTH = 1.00
ASSUMPTIONS = {
    "dns_ttl_seconds": (
        60,
        "how long resolvers keep the old answer: an alias record has its target's TTL, which "
        "Route 53 does not publish for API Gateway domains (60 s assumed; some clients cache longer)",
    ),
    "decide_seconds": (
        300,
        "pilot light: from the alarm to an operator starting the runbook (automatic failover "
        "would send users to a throttled standby, so a person decides)",
    ),
    "promote_seconds": (
        60,
        "the runbook: deleting reserved concurrency and forcing the health check unhealthy take effect "
        "in seconds; its verify probe and Route 53's propagation take the rest",
    ),
}
# Printed under the table, referred to by the standby rows as [a] and [b].
NOTES = {
    "a": "automatic (warm standby) or paged (pilot light) only for failures the primary's health check "
    "sees: `GET /v1/health` answers from the function without reading the table (a health check fails "
    "open on its dependencies), and the alias records evaluate API Gateway's target health, so an "
    "outage of API Gateway, Lambda or the Region's network fails over by itself; a DynamoDB impairment "
    "in the primary Region keeps the check healthy while orders fail (the API's 5XX alarm says so): "
    "an operator runs the runbook (`failover`), and the RTO is then the pilot light's for either "
    "strategy (decide + promote)",
    "b": "identity: Cognito user pools are regional, so after a failover users sign in again at the "
    "standby's pool (only those invited there) and get another `sub`: orders they made before are "
    'not theirs there until failback (docs/standby.md, "What a user sees during a failover")',
}
SECOND_REGION_STACKS = ("StandbyKey", "Standby", "StandbyMonitor")
# In the primary's stack, what a plain ServerlessApi does not have: the global table with its key
# and latency alarm, the custom domain, record and health check.
PRIMARY_ADDITIONS = ("/OrdersTable/", "/Failover/")


@dataclass(frozen=True)
class StandbyFacts:
    pilot_light: bool
    request_interval: int
    failure_threshold: int
    health_checks: int
    https_health_checks: int
    keys: int
    alarms: int
    web_acl_rules: list[int]


def facts(templates: dict[str, dict[str, Any]]) -> StandbyFacts:
    """The figures of the four Standby templates: what the standby arrangement adds to a
    single-Region orders API (the second Region's stacks, the primary's additions)."""
    everything = [r for name in SECOND_REGION_STACKS for r in templates[name]["Resources"].values()]
    everything += [
        r
        for r in templates["StandbyPrimary"]["Resources"].values()
        if any(part in r.get("Metadata", {}).get("aws:cdk:path", "") for part in PRIMARY_ADDITIONS)
    ]
    checks = [
        r["Properties"]["HealthCheckConfig"] for r in everything if r["Type"] == "AWS::Route53::HealthCheck"
    ]
    (primary_check,) = [
        r["Properties"]["HealthCheckConfig"]
        for r in templates["StandbyPrimary"]["Resources"].values()
        if r["Type"] == "AWS::Route53::HealthCheck"
    ]
    (standby_handler,) = [
        r["Properties"]
        for r in templates["Standby"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and "/Orders/Handler/" in r.get("Metadata", {}).get("aws:cdk:path", "")
    ]
    return StandbyFacts(
        pilot_light=standby_handler.get("ReservedConcurrentExecutions") == 0,
        request_interval=int(primary_check.get("RequestInterval", 30)),
        failure_threshold=int(primary_check.get("FailureThreshold", 3)),
        health_checks=len(checks),
        https_health_checks=sum(c["Type"] in ("HTTPS", "HTTPS_STR_MATCH") for c in checks),
        # The replica's key, the primary table's own (a plain ServerlessApi's table uses an
        # AWS-owned key), the second Region's log and alarm keys.
        keys=sum(r["Type"] == "AWS::KMS::Key" for r in everything),
        alarms=sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in everything),
        web_acl_rules=[
            len(r["Properties"].get("Rules", []))
            for name in SECOND_REGION_STACKS
            for r in templates[name]["Resources"].values()
            if r["Type"] == "AWS::WAFv2::WebACL"
        ],
    )


def idle_cost(standby: StandbyFacts) -> float:
    """A month at idle: health checks, keys, alarms, the standby's web ACL. Lambda, API Gateway
    and on-demand DynamoDB bill per request; storage and replicated writes come on top."""
    cost = standby.health_checks * HEALTH_CHECK_MONTH + standby.https_health_checks * HEALTH_CHECK_HTTPS_MONTH
    cost += standby.keys * KMS_KEY_MONTH + standby.alarms * ALARM_MONTH
    cost += sum(WEB_ACL_MONTH + rules * WEB_ACL_RULE_MONTH for rules in standby.web_acl_rules)
    return cost


def _duration(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def rows(profile: str, standby: StandbyFacts) -> list[Row]:
    """One row: the primary Region lost, the standby taking over."""
    ttl, _ = ASSUMPTIONS["dns_ttl_seconds"]
    decide, _ = ASSUMPTIONS["decide_seconds"]
    promote, _ = ASSUMPTIONS["promote_seconds"]
    detect = standby.request_interval * standby.failure_threshold
    if standby.pilot_light:
        # Route 53 answers with the (throttled) standby once the check fails; resolvers' caches
        # expire while the operator decides and the runbook promotes.
        rto = detect + max(ttl, decide + promote)
        how = (
            f"{detect} s detect + {_duration(decide)} decide + {promote} s promote; "
            f"DNS's {ttl} s meanwhile [a]"
        )
        name = "pilot light"
    else:
        rto = detect + ttl
        how = f"{detect} s detect + {ttl} s DNS, automatic [a]"
        name = "warm standby"
    return [
        Row(
            f"{name} ({profile}) [b]",
            "the Region",
            f"~{REPLICATION_SECONDS} s (global table replication)",
            f"{_duration(rto)} ({how})",
            f"${idle_cost(standby):.2f} + storage x2",
        )
    ]
