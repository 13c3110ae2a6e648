"""ServerlessApi sign-in: the Cognito app client, its hosted sign-in domain, and the URLs it may
send users back to, as synthesized in both profiles, and the props that refuse unsafe values."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cognito as cognito
from aws_cdk.assertions import Template

from patterns.shared import PRODUCTION
from stacks.serverless_api_stack import KIT_PRODUCTION_CONTEXT, ServerlessApiStack
from tests.kit import CDK_JSON_CONTEXT, PROFILES, bare_stack, one, resolve_ref, template_json
from tests.test_serverless_api import build

STACK = "ServerlessApi"


def client(profile: str) -> dict[str, Any]:
    return one(template_json(STACK, profile), "AWS::Cognito::UserPoolClient", "Orders/Users/ApiClient")[1][
        "Properties"
    ]


def minutes(properties: dict[str, Any], token: str) -> float:
    per_unit = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 1440}
    return properties[f"{token}TokenValidity"] * per_unit[properties["TokenValidityUnits"][f"{token}Token"]]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_app_client_allows_only_the_authorization_code_grant_as_a_public_client(profile: str) -> None:
    """The implicit grant returns tokens in the redirect URL and is deprecated: "clients SHOULD
    NOT use the implicit grant" (RFC 9700, OAuth 2.0 Security Best Current Practice, 2.1.2).
    A browser or mobile app cannot keep a client secret, so it is a public client that protects
    its code with PKCE (RFC 7636); Cognito verifies the code_verifier whenever the authorize
    request carried a code_challenge (Amazon Cognito Developer Guide, "Using PKCE in
    authorization code grants")."""
    properties = client(profile)
    assert properties["AllowedOAuthFlows"] == ["code"]
    assert properties["AllowedOAuthFlowsUserPoolClient"] is True
    assert properties["GenerateSecret"] is False
    assert properties["SupportedIdentityProviders"] == ["COGNITO"]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_client_asks_only_for_openid_never_the_user_admin_scope(profile: str) -> None:
    """`aws.cognito.signin.user.admin` lets the token's holder call the user pools API as the
    user (GetUser, UpdateUserAttributes, DeleteUser, ...) (Amazon Cognito Developer Guide,
    "Scopes, M2M, and API authorization with resource servers"); the API needs none of that.
    It reads only the ID token's `sub`, and Cognito issues an ID token only for the `openid`
    scope (Cognito "Authorize endpoint")."""
    assert client(profile)["AllowedOAuthScopes"] == ["openid"]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_revoked_or_signed_out_token_stops_working_within_half_an_hour(profile: str) -> None:
    """Revoking a refresh token does not stop its ID tokens at API Gateway: "revoked tokens will
    still be valid if they are verified using any JWT library that verifies the signature and
    expiration of the token" (Amazon Cognito Developer Guide, "Revoking tokens"), and the
    authorizer also caches a token's result for its TTL (API Gateway, "Control access to REST
    APIs using Amazon Cognito user pools"). So the window after sign-out is the ID token's
    lifetime plus the cache TTL; revocation must be on so the refresh token cannot mint more."""
    properties = client(profile)
    assert properties["EnableTokenRevocation"] is True
    _, authorizer = one(template_json(STACK, profile), "AWS::ApiGateway::Authorizer", "Orders/Authorizer")
    cache_minutes = authorizer["Properties"]["AuthorizerResultTtlInSeconds"] / 60
    assert minutes(properties, "Id") + cache_minutes <= 30
    assert minutes(properties, "Access") <= 30
    assert minutes(properties, "Refresh") <= 24 * 60


@pytest.mark.parametrize("profile", PROFILES)
def test_sign_in_does_not_reveal_whether_a_user_exists(profile: str) -> None:
    """Without PreventUserExistenceErrors, sign-in and password recovery answer
    UserNotFoundException for an unknown user, so anyone can enumerate the pool's users
    (Amazon Cognito Developer Guide, "Managing error responses"; OWASP Authentication Cheat
    Sheet, "Authentication and Error Messages")."""
    assert client(profile)["PreventUserExistenceErrors"] == "ENABLED"


@pytest.mark.parametrize("profile", PROFILES)
def test_the_hosted_sign_in_has_a_domain_on_the_stacks_pool_and_its_url_is_an_output(profile: str) -> None:
    """Cognito's /oauth2/authorize and /oauth2/token endpoints exist only on a user pool domain
    (Amazon Cognito Developer Guide, "Configuring a user pool domain"); without one the code
    grant above could not be used."""
    document = template_json(STACK, profile)
    pool_id, _ = one(document, "AWS::Cognito::UserPool", "Orders/Users")
    _, domain = one(document, "AWS::Cognito::UserPoolDomain", "Orders/Users/Domain")
    assert resolve_ref(document, domain["Properties"]["UserPoolId"]) == pool_id
    assert "SignInUrl" in document["Outputs"]


def test_callback_and_logout_urls_come_from_context_and_sandbox_defaults_to_localhost() -> None:
    """Cognito sends the code only to a registered callback URL, matched exactly, and accepts
    http only for localhost (Amazon Cognito Developer Guide, "App client settings")."""
    assert client("production")["CallbackURLs"] == [KIT_PRODUCTION_CONTEXT["callback_url"]]
    assert client("production")["LogoutURLs"] == [KIT_PRODUCTION_CONTEXT["logout_url"]]
    assert client("sandbox")["CallbackURLs"] == client("sandbox")["LogoutURLs"] == ["http://localhost:8080/"]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({}, "callback_url: the production profile needs"),
        ({"callback_url": "https://shop.example.io/"}, "logout_url: the production profile needs"),
        ({"callback_url": "https://example.com", "logout_url": "https://shop.example.io/"}, "placeholder"),
    ],
)
def test_a_production_stack_without_its_sign_in_urls_fails_naming_the_context_key(
    context: dict[str, str], message: str
) -> None:
    app = cdk.App(context={**CDK_JSON_CONTEXT, "profile": "production", **context})
    with pytest.raises(ValueError, match=message):
        ServerlessApiStack(app, "ServerlessApi", profile=PRODUCTION)


BAD_SIGN_IN_PROPS: list[tuple[str, dict[str, Any], str]] = [
    ("production", {}, "callback_urls: the production profile needs the https URL"),
    (
        "production",
        {"callback_urls": ["https://shop.example.io/"], "logout_urls": []},
        "logout_urls: the production",
    ),
    (
        "production",
        {"callback_urls": ["https://example.com"]},
        "callback_urls: 'https://example.com' is a local or",
    ),
    ("production", {"callback_urls": ["https://app.example.org/cb"]}, "callback_urls: .* placeholder"),
    ("production", {"callback_urls": ["http://localhost:3000/"]}, "callback_urls: .* local or placeholder"),
    ("sandbox", {"callback_urls": ["http://shop.example.io/"]}, r"callback_urls: .* must be an https URL"),
    ("sandbox", {"callback_urls": ["https://shop.example.io/#done"]}, "callback_urls: .* has a fragment"),
    ("sandbox", {"logout_urls": "https://shop.example.io/"}, "logout_urls: expected a list, got str"),
    ("sandbox", {"callback_urls": ["javascript:alert(1)"]}, "callback_urls: .* must be an https URL"),
    ("sandbox", {"auth_domain_prefix": "my-cognito-app"}, "auth_domain_prefix: 'my-cognito-app'"),
    ("sandbox", {"auth_domain_prefix": "Shop_App"}, "auth_domain_prefix: 'Shop_App'"),
]


@pytest.mark.parametrize(
    ("profile", "props", "message"),
    BAD_SIGN_IN_PROPS,
    ids=[m.split(":")[0] + "-" + p for p, _, m in BAD_SIGN_IN_PROPS],
)
def test_unsafe_sign_in_props_fail_at_synth_naming_the_prop(
    profile: str, props: dict[str, Any], message: str
) -> None:
    # The other URL prop is a valid one, so the error is about the case's own value.
    base = {"callback_urls": ["https://shop.example.io/"], "logout_urls": ["https://shop.example.io/"]}
    base = base if profile == "production" and props else {}
    with pytest.raises(ValueError, match=message):
        build(bare_stack({"profile": profile}), **{**base, **props})


def test_sign_in_props_with_an_existing_pool_are_refused() -> None:
    stack = bare_stack()
    pool = cognito.UserPool.from_user_pool_id(stack, "Pool", "eu-west-1_AbCdEf123")
    with pytest.raises(ValueError, match="callback_urls: an existing user_pool gets no app client"):
        build(stack, user_pool=pool, callback_urls=["https://shop.example.io/"])


def test_a_production_api_with_its_own_urls_passes_the_security_gate() -> None:
    stack = bare_stack({"profile": "production"})
    urls = ["https://shop.example.io/signed-in"]
    build(
        stack, callback_urls=urls, logout_urls=["https://shop.example.io/"], auth_domain_prefix="shop-orders"
    )
    template = Template.from_stack(stack)  # raises on any unacknowledged nag finding
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {"CallbackURLs": urls})
    template.has_resource_properties("AWS::Cognito::UserPoolDomain", {"Domain": "shop-orders"})


@pytest.mark.parametrize("profile", PROFILES)
def test_no_flow_gives_tokens_to_a_holder_of_the_public_client_id_alone(profile: str) -> None:
    """A public client's id is no secret: it ships in every browser and app. ALLOW_USER_SRP_AUTH
    and ALLOW_USER_PASSWORD_AUTH let anyone holding it call InitiateAuth with a user's password
    and get tokens without the hosted sign-in (Amazon Cognito Developer Guide, "Authentication
    flows"); ALLOW_ADMIN_USER_PASSWORD_AUTH needs IAM credentials allowed
    cognito-idp:AdminInitiateAuth, and refresh needs a refresh token already issued."""
    assert sorted(client(profile)["ExplicitAuthFlows"]) == [
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost./",
        "https://app.localhost/",
        "https://127.0.0.2/",
        "https://[::1]/",
        "https://0.0.0.0/",
        "https://10.0.0.5/",
        "https://192.168.1.20/cb",
        "https://printer.local/",
        "https://example.com./",
        "https://shop.example.org/",
    ],
)
def test_production_refuses_a_url_reaching_a_local_machine_network_or_someone_elses_host(
    url: str,
) -> None:
    """Cognito sends the authorization code to the callback URL (RFC 6749 section 4.1.2): a URL
    that resolves to the user's own machine (RFC 6761 .localhost, loopback), a private or
    link-local network (RFC 1918, RFC 6762 .local) or a documentation domain someone else runs
    (RFC 2606) hands the code to whoever serves there. A trailing dot names the same host."""
    from patterns.serverless_api.protection import check_sign_in_urls

    with pytest.raises(ValueError, match=r"callback_urls: .* local or placeholder"):
        check_sign_in_urls("callback_urls", [url], production=True)
    assert check_sign_in_urls("callback_urls", ["https://orders.shop.io/"], production=True)
