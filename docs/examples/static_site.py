"""StaticSite in an app of your own: your single-page app from S3 through CloudFront, your REST
API under `/v1/*` of the same domain, and a sign-in client whose callback is the site's URL."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.frontend import StaticSite  # where you copied it, e.g. myapp.constructs.frontend
from patterns.serverless_api import Route, ServerlessApi

# Your site's folder (index.html and assets/) and your API's handler; here the kit's demos.
ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "runtime" / "orders_web"
API_CODE = ROOT / "lambda" / "orders_api"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Shop")

# Your REST API with a user pool and its hosted sign-in; here one ServerlessApi makes.
api = ServerlessApi(
    stack,
    "OrdersApi",
    code_dir=API_CODE,
    handler="app.handler",
    routes=[Route("GET", "/orders"), Route("GET", "/orders/{id}")],
    auth_domain_prefix="shop-orders-example",
)
assert api.user_pool_domain is not None
sign_in = api.user_pool_domain.base_url()

site = StaticSite(
    stack,
    "Site",
    site_dir=str(SITE),
    api=api.api,  # served under /<stage name>/*, never cached
    connect_origins=[sign_in],  # the CSP lets the page call the sign-in domain
)
client = api.user_pool.add_client(
    "WebClient",
    generate_secret=False,  # a browser keeps no secret: PKCE protects the code
    o_auth=cognito.OAuthSettings(
        flows=cognito.OAuthFlows(authorization_code_grant=True),
        scopes=[cognito.OAuthScope.OPENID],
        callback_urls=[site.url],
        logout_urls=[site.url],
    ),
    prevent_user_existence_errors=True,
)
# /config.json, read by the page: tokens resolved at deploy, never written into its code.
site.write_config(
    {
        "apiUrl": f"{site.url}{api.stage.stage_name}",
        "signInUrl": sign_in,
        "clientId": client.user_pool_client_id,
        "redirectUri": site.url,
    }
)
cdk.CfnOutput(stack, "SiteUrl", value=site.url)

app.synth()
