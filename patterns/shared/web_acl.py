"""A regional WAF web ACL for any resource WAF protects (a load balancer, an API stage): AWS
managed rule groups and a per-IP rate limit, the same set the kit's API uses.

L1 because aws-cdk-lib has no L2 for WAFv2.
"""

from __future__ import annotations

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

# AWS managed rule groups, in priority order: OWASP-style common rules (including an 8 KB body
# limit), known-bad inputs (e.g. Log4Shell patterns), and IPs Amazon threat intelligence flags.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
RATE_WINDOW_SECONDS = 300
MIN_RATE_LIMIT = 10  # the lowest limit WAF accepts for a rate-based rule


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def not_carrying(header: str, value: str) -> wafv2.CfnWebACL.StatementProperty:
    """Matches a request unless its `header` is exactly `value` (WAF matches header names
    case-insensitively; the value as sent, untransformed)."""
    return wafv2.CfnWebACL.StatementProperty(
        not_statement=wafv2.CfnWebACL.NotStatementProperty(
            statement=wafv2.CfnWebACL.StatementProperty(
                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                        single_header={"Name": header.lower()}
                    ),
                    positional_constraint="EXACTLY",
                    search_string=value,
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                    ],
                )
            )
        )
    )


def regional_web_acl(
    scope: Construct,
    construct_id: str,
    *,
    resource_arn: str,
    rate_limit_per_ip: int,
    rate_limit_exempt_header: tuple[str, str] | None = None,
) -> wafv2.CfnWebACL:
    """A web ACL on `resource_arn`: the managed rule groups, then a rule that blocks a client
    sending more than `rate_limit_per_ip` requests in any 5 minutes.

    `rate_limit_exempt_header` (name, value): requests whose header `name` is exactly `value`
    are not counted by the rate rule (a scope-down statement; the managed rules still apply).
    For a trusted proxy that forwards many clients' requests from a few addresses; `value`
    must be a secret, e.g. a `{{resolve:secretsmanager:...}}` dynamic reference."""
    if rate_limit_per_ip < MIN_RATE_LIMIT:
        raise ValueError(f"rate_limit_per_ip: WAF allows {MIN_RATE_LIMIT} or more, got {rate_limit_per_ip}")
    rules = [
        wafv2.CfnWebACL.RuleProperty(
            name=group,
            priority=priority,
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group
                )
            ),
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            visibility_config=_visibility(group),
        )
        for priority, group in enumerate(MANAGED_RULE_GROUPS)
    ]
    rules.append(
        wafv2.CfnWebACL.RuleProperty(
            name="RateLimitPerIp",
            priority=len(rules),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=rate_limit_per_ip,
                    aggregate_key_type="IP",
                    evaluation_window_sec=RATE_WINDOW_SECONDS,
                    scope_down_statement=not_carrying(*rate_limit_exempt_header)
                    if rate_limit_exempt_header
                    else None,
                )
            ),
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            visibility_config=_visibility("RateLimitPerIp"),
        )
    )
    acl = wafv2.CfnWebACL(
        scope,
        construct_id,
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=_visibility(construct_id),
        rules=rules,
    )
    wafv2.CfnWebACLAssociation(
        scope, f"{construct_id}Association", resource_arn=resource_arn, web_acl_arn=acl.attr_arn
    )
    return acl
