"""`Frontend`: the orders web app (runtime/orders_web) served from S3 through CloudFront, with
the ServerlessApi's REST API behind the same domain under `/v1/*`.

Its sign-in uses an app client of its own on the API's user pool, whose callback and logout URL
is this distribution's URL: a token reference inside this stack, so nobody has to copy the
distribution's domain into `-c callback_url` (that context is for the API's own client).
Context: `-c frontend_domain=... -c frontend_certificate_arn=...` (both or neither; the
certificate in us-east-1) and, in production, `-c frontend_web_acl_arn=...` (a CLOUDFRONT-scope
web ACL in us-east-1).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from patterns.frontend import StaticSite
from patterns.serverless_api import ServerlessApi
from patterns.serverless_api.protection import REFRESH_TOKEN_VALIDITY, TOKEN_VALIDITY
from patterns.shared.defaults import Profile
from patterns.shared.props import PropError
from stacks.paths import runtime_dir

DOMAIN_KEY = "frontend_domain"
CERTIFICATE_KEY = "frontend_certificate_arn"
WEB_ACL_KEY = "frontend_web_acl_arn"


class FrontendStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, profile: Profile, api: ServerlessApi, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if api.user_pool_domain is None:
            raise PropError(
                "api",
                "the web app signs in through the API's hosted sign-in: the API needs its own user pool",
            )
        certificate_arn = self.node.try_get_context(CERTIFICATE_KEY)
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", str(certificate_arn))
            if certificate_arn
            else None
        )
        sign_in = api.user_pool_domain.base_url()
        site = StaticSite(
            self,
            "Site",
            site_dir=runtime_dir("orders_web"),
            api=api.api,
            connect_origins=[sign_in],
            domain_name=self.node.try_get_context(DOMAIN_KEY),
            certificate=certificate,
            web_acl_arn=self.node.try_get_context(WEB_ACL_KEY),
            profile=profile,
        )
        # In this stack (not api.user_pool.add_client, which would put it in the API's stack):
        # the client names the distribution, and the API's stack must not depend on this one.
        client = cognito.UserPoolClient(
            self,
            "WebClient",
            user_pool=api.user_pool,
            generate_secret=False,  # a browser cannot keep a secret: PKCE protects the code
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID],
                callback_urls=[site.url],
                logout_urls=[site.url],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=TOKEN_VALIDITY,
            access_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
        )
        self.site = site
        self.web_client = client
        self.config = {
            "apiUrl": f"{site.url}{api.stage.stage_name}",
            "signInUrl": sign_in,
            "clientId": client.user_pool_client_id,
            "redirectUri": site.url,
        }
        site.write_config(self.config)
        CfnOutput(self, "SiteUrl", value=site.url)
        CfnOutput(self, "DistributionId", value=site.distribution.distribution_id)
        CfnOutput(self, "BucketName", value=site.bucket.bucket_name)
        CfnOutput(self, "WebClientId", value=client.user_pool_client_id)
