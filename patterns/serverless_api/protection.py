"""Who may call an API and what reaches it: a Cognito user pool for sign-in, and a WAF web ACL
with AWS managed rules in front of a REST API stage."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from ..shared.defaults import Profile, acknowledge
from ..shared.web_acl import regional_web_acl

OPTIONAL_MFA_REASON = (
    "MFA is optional because this pool was built with mfa_required=False (the sandbox default; "
    "production requires MFA unless mfa_required=False is passed): users sign in with a password "
    "of 14 or more characters and may still enrol a TOTP app."
)
# Where a sandbox pool's hosted sign-in returns when no URL is given: a local app, for trying it.
SANDBOX_SIGN_IN_URL = "http://localhost:8080/"
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
# RFC 2606 names that documentation uses as stand-ins; example.com is also CDK's default callback.
# Each resolves to a host its owner runs, so a code sent there would reach someone else.
PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
# Top-level names that resolve to the user's own machine (RFC 6761) or the local network (mDNS,
# RFC 6762): a code sent there reaches whoever runs a server on it. (.test and .invalid never
# resolve, so a code sent there reaches no one: a broken setting, not a leak; the kit's own
# offline production synth uses .test.)
RESERVED_TOP_LEVEL_DOMAINS = {"localhost", "local"}
# ID and access tokens: what a caller signed out (or whose refresh token was revoked) can still do
# with a token already issued, since API Gateway checks only signature and expiry.
TOKEN_VALIDITY = Duration.minutes(15)
REFRESH_TOKEN_VALIDITY = Duration.hours(12)


def check_sign_in_urls(prop: str, urls: Sequence[str], *, production: bool) -> list[str]:
    """The callback or logout URLs for the app client, or a ValueError naming `prop`.

    Cognito accepts https, and http only for localhost; RFC 6749 section 3.1.2 forbids a fragment
    in a redirection URI. Production needs its own URLs: none, a local one or a placeholder fails.
    """
    if isinstance(urls, str):
        raise ValueError(f"{prop}: give a list of URLs, not one string")
    if not urls:
        if production:
            raise ValueError(
                f"{prop}: the production profile needs the https URL(s) of your app, where Cognito "
                "sends users back after sign-in or sign-out"
            )
        return [SANDBOX_SIGN_IN_URL]
    for url in urls:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        local = parts.scheme == "http" and host in LOCAL_HOSTS
        if not (parts.scheme == "https" and host) and not local:
            raise ValueError(f"{prop}: {url!r} must be an https URL (http only for localhost)")
        if parts.fragment or "#" in url:
            raise ValueError(f"{prop}: {url!r} has a fragment, which a redirect URI must not have")
        if production and (_local_or_private(host) or _placeholder(host)):
            raise ValueError(
                f"{prop}: {url!r} is a local or placeholder URL; production needs your app's own URL"
            )
    return list(urls)


def _placeholder(host: str) -> bool:
    host = host.rstrip(".")
    if host.rsplit(".", 1)[-1] in RESERVED_TOP_LEVEL_DOMAINS:
        return True
    return any(host == domain or host.endswith("." + domain) for domain in PLACEHOLDER_DOMAINS)


def _local_or_private(host: str) -> bool:
    """A name or address that reaches the user's own machine or a private network, never the app."""
    host = host.rstrip(".").strip("[]")
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def user_pool(
    scope: Construct,
    construct_id: str,
    *,
    profile: Profile,
    mfa_required: bool,
    callback_urls: Sequence[str],
    logout_urls: Sequence[str],
    domain_prefix: str,
) -> tuple[cognito.UserPool, cognito.UserPoolClient, cognito.UserPoolDomain]:
    """A pool of users an administrator invites (no self sign-up), signing in by email with a
    strong password, threat protection on (Plus plan, billed per active user), a Cognito domain
    for its hosted sign-in, and the public app client the API's callers use to get ID tokens:
    the authorization code grant only, the `openid` scope only. Cognito has no setting that
    requires PKCE; it checks the code_verifier whenever the authorize request sent a
    code_challenge, so the app must send one (docs/serverless-api.md shows how)."""
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
    domain = pool.add_domain(
        "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix)
    )
    client = pool.add_client(
        "ApiClient",
        # Besides the hosted sign-in, only ADMIN_USER_PASSWORD_AUTH, which needs IAM credentials
        # allowed cognito-idp:AdminInitiateAuth (an operator's shell). No USER_SRP_AUTH: with it,
        # anyone holding the public client id could get tokens without the hosted sign-in.
        auth_flows=cognito.AuthFlow(admin_user_password=True),
        # A public client: a browser or mobile app cannot keep a secret, PKCE protects its code.
        generate_secret=False,
        o_auth=cognito.OAuthSettings(
            # Code grant only: the implicit grant is deprecated (RFC 9700 section 2.1.2).
            flows=cognito.OAuthFlows(authorization_code_grant=True),
            # The API reads only the ID token's `sub`; no aws.cognito.signin.user.admin.
            scopes=[cognito.OAuthScope.OPENID],
            callback_urls=list(callback_urls),
            logout_urls=list(logout_urls),
        ),
        supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
        prevent_user_existence_errors=True,
        enable_token_revocation=True,
        id_token_validity=TOKEN_VALIDITY,
        access_token_validity=TOKEN_VALIDITY,
        refresh_token_validity=REFRESH_TOKEN_VALIDITY,
    )
    return pool, client, domain


def web_acl(
    scope: Construct, construct_id: str, *, stage: apigateway.Stage, rate_limit_per_ip: int
) -> wafv2.CfnWebACL:
    """A regional web ACL on the stage: AWS managed rules, and a per-IP rate limit (requests in
    any 5 minutes) that blocks a single client flooding the API before it reaches throttling."""
    return regional_web_acl(
        scope, construct_id, resource_arn=stage.stage_arn, rate_limit_per_ip=rate_limit_per_ip
    )
