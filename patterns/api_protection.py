"""Who may call an API and what reaches it: a Cognito user pool for sign-in, and a WAF web ACL
with AWS managed rules in front of a REST API stage."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from patterns.defaults import Profile, acknowledge

OPTIONAL_MFA_REASON = (
    "MFA is optional because this pool was built with mfa_required=False (the sandbox default): "
    "throwaway test users sign in with the documented admin-initiate-auth flow and may still "
    "enrol a TOTP app; the production profile requires MFA."
)
# AWS managed rule groups, in priority order: OWASP-style common rules (including an 8 KB body
# limit), known-bad inputs (e.g. Log4Shell patterns), and IPs Amazon threat intelligence flags.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)


def user_pool(
    scope: Construct, construct_id: str, *, profile: Profile, mfa_required: bool
) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
    """A pool of users an administrator invites (no self sign-up), signing in by email with a
    strong password, threat protection on (Plus plan, billed per active user), and the app
    client the API's callers use to get ID tokens."""
    pool = cognito.UserPool(
        scope,
        construct_id,
        self_sign_up_enabled=False,
        sign_in_aliases=cognito.SignInAliases(email=True),
        auto_verify=cognito.AutoVerifiedAttrs(email=True),
        account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
        password_policy=cognito.PasswordPolicy(
            min_length=14,
            require_lowercase=True,
            require_uppercase=True,
            require_digits=True,
            require_symbols=True,
            temp_password_validity=Duration.days(3),
        ),
        mfa=cognito.Mfa.REQUIRED if mfa_required else cognito.Mfa.OPTIONAL,
        mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
        feature_plan=cognito.FeaturePlan.PLUS,
        standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
        # Left unset in sandbox: the property renders as INACTIVE, which reads as protection.
        deletion_protection=True if profile.deletion_protection else None,
        removal_policy=profile.removal_policy,
    )
    if not mfa_required:
        acknowledge(pool, "AwsSolutions-COG2", OPTIONAL_MFA_REASON)
    client = pool.add_client(
        "ApiClient",
        auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
        generate_secret=False,
        prevent_user_existence_errors=True,
        enable_token_revocation=True,
        id_token_validity=Duration.hours(1),
        access_token_validity=Duration.hours(1),
        refresh_token_validity=Duration.days(1),
    )
    return pool, client


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def web_acl(
    scope: Construct, construct_id: str, *, stage: apigateway.Stage, rate_limit_per_ip: int
) -> wafv2.CfnWebACL:
    """A regional web ACL on the stage: AWS managed rules, and a per-IP rate limit (requests in
    any 5 minutes) that blocks a single client flooding the API before it reaches throttling.

    L1 because aws-cdk-lib has no L2 for WAFv2.
    """
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
                    limit=rate_limit_per_ip, aggregate_key_type="IP", evaluation_window_sec=300
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
        scope, f"{construct_id}Association", resource_arn=stage.stage_arn, web_acl_arn=acl.attr_arn
    )
    return acl
