"""A static site at the edge: a private, KMS-encrypted S3 bucket that only this CloudFront
distribution reads (origin access control), cache behaviours per content, security headers,
SPA routes, an optional API behind the same domain, and the site's files deployed with an
invalidation of what changed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Aws, CfnResource, Duration, Fn, Stack, Token
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from ..shared.buckets import _log_auto_delete_provider
from ..shared.defaults import Profile, acknowledge, encryption_key, log_group, profile_of
from ..shared.props import PropError, expect
from . import policies
from .build import ASSETS, INDEX, build_site

SPA_FUNCTION = Path(__file__).with_name("spa_routes.js")
CONFIG = "config.json"
CLOUDFRONT = "cloudfront.amazonaws.com"
# The singleton function of every BucketDeployment in a stack (aws-cdk-lib names it so).
DEPLOYMENT_HANDLER = "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"
# A CLOUDFRONT-scope web ACL is a global resource, always created in us-east-1.
GLOBAL_WEB_ACL = re.compile(
    r"^arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/[A-Za-z0-9_-]{1,128}/[0-9a-f-]{36}$"
)
CERTIFICATE_ARN = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]{36}$"
)
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
GEO_REASON = (
    "The site serves a worldwide audience; restricting countries is a business decision the "
    "operator makes with geo_restriction, not a default."
)
NO_WAF_REASON = (
    "This distribution has no web ACL because web_acl_arn was not given (sandbox): a web ACL bills "
    "a fixed monthly fee even idle; the site is static files and the API behind it has its own."
)
DEFAULT_CERTIFICATE_REASON = (
    "No custom domain was given, so the distribution uses CloudFront's default *.cloudfront.net "
    "certificate, for which CloudFront fixes the minimum protocol at TLSv1; give domain_name and "
    "certificate to get TLSv1.2_2021."
)
RUNTIME_REASON = "CDK's BucketDeployment handler: aws-cdk-lib chooses its runtime, not this construct."
DEPLOYMENT_REASONS = {
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]": (
        "CDK's BucketDeployment handler role: AWSLambdaBasicExecutionRole only lets it write its "
        "own logs, into the log group this construct gives it."
    ),
    "AwsSolutions-L1": RUNTIME_REASON,
    "Serverless-LambdaLatestVersion": RUNTIME_REASON,
    **{
        f"AwsSolutions-IAM5[{wildcard}]": (
            "CDK's BucketDeployment handler role: it copies every file of the asset into the site "
            "bucket (object wildcards on these two buckets, and the KMS actions of writing under "
            "the site's key), and creates an invalidation, an action CloudFront does not scope."
        )
        for wildcard in (
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            "Resource::arn:<AWS::Partition>:s3:::<Site6F918F1A>/*",
            "Resource::*",
        )
    },
    "Serverless-LambdaDLQ": (
        "CDK's BucketDeployment handler runs as a CloudFormation custom resource: CloudFormation "
        "invokes it and reports its failure on the stack; no asynchronous event is lost."
    ),
    "Serverless-LambdaTracing": (
        "CDK's BucketDeployment handler copies files once per deploy; a trace tells nothing a "
        "deploy log does not."
    ),
}


class StaticSite(Construct):
    """A private bucket served only through a CloudFront distribution with origin access control.

    Attributes:
        bucket: the site's bucket (private, SSE-KMS with `key`, TLS only, read only by `distribution`).
        key: the customer-managed key of `bucket`, usable by CloudFront only for this distribution.
        logs_bucket: the distribution's and the bucket's access logs (SSE-S3; log delivery needs ACLs).
        distribution: the CloudFront distribution.
        spa_routes: the CloudFront Function that answers SPA routes with index.html.
        headers_policy: the response headers policy every behaviour applies.
        assets_deployment: the hashed assets, deployed first and never pruned.
        documents_deployment: index.html (and config.json, see `write_config`), deployed after the
            assets, with the invalidation.
        url: the site's https URL, ending in "/" (the custom domain when one is given).
    """

    bucket: s3.Bucket
    key: kms.Key
    logs_bucket: s3.Bucket
    distribution: cloudfront.Distribution
    spa_routes: cloudfront.Function
    headers_policy: cloudfront.ResponseHeadersPolicy
    assets_deployment: s3deploy.BucketDeployment
    documents_deployment: s3deploy.BucketDeployment
    url: str

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_dir: str,
        api: apigateway.RestApi | None = None,
        connect_origins: Sequence[str] = (),
        domain_name: str | None = None,
        certificate: acm.ICertificate | None = None,
        web_acl_arn: str | None = None,
        price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_100,
        profile: Profile | None = None,
    ) -> None:
        """Build the buckets, the distribution and the deployments of the site.

        Args:
            site_dir: a folder with `index.html` and `assets/`; assets are renamed after their content.
            api: a REST API served under `/<stage name>/*` of the same domain, never cached;
                default none: no API path.
            connect_origins: origins the page may call besides itself (e.g. the sign-in domain), in the CSP.
            domain_name: the site's own domain; needs `certificate`. Default: the distribution's domain.
            certificate: an ACM certificate in us-east-1 for `domain_name` (CloudFront reads only there).
            web_acl_arn: a CLOUDFRONT-scope WAF web ACL (in us-east-1); required in production.
            price_class: the edge locations used; default PRICE_CLASS_100 (North America, Europe).
            profile: sandbox (default from context) or production.
        """
        super().__init__(scope, construct_id)
        self._config_written = False
        profile = profile or profile_of(self)
        _check_props(
            site_dir=site_dir,
            api=api,
            domain_name=domain_name,
            certificate=certificate,
            web_acl_arn=web_acl_arn,
            connect_origins=connect_origins,
            production=profile.is_production,
        )
        self.logs_bucket = self._logs_bucket(profile)
        self.key, self.bucket = self._site_bucket(profile)
        self.spa_routes = cloudfront.Function(
            self,
            "SpaRoutes",
            code=cloudfront.FunctionCode.from_file(file_path=str(SPA_FUNCTION)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Answer SPA routes (no file extension) with /index.html",
        )
        self.headers_policy = policies.security_headers(
            self, "SecurityHeaders", csp=policies.content_security_policy(connect_origins)
        )
        self.distribution = self._distribution(
            api=api,
            domain_name=domain_name,
            certificate=certificate,
            web_acl_arn=web_acl_arn,
            price_class=price_class,
        )
        self._admit_only_this_distribution()
        host = domain_name or self.distribution.distribution_domain_name
        self.url = f"https://{host}/"
        self._deploy(site_dir, profile)
        acknowledge(self.distribution, "AwsSolutions-CFR1", GEO_REASON)
        if web_acl_arn is None:
            acknowledge(self.distribution, "AwsSolutions-CFR2", NO_WAF_REASON)
        if certificate is None:
            acknowledge(self.distribution, "AwsSolutions-CFR4", DEFAULT_CERTIFICATE_REASON)

    def _logs_bucket(self, profile: Profile) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Logs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # CloudFront standard logging writes with an ACL grant: the bucket must accept ACLs.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=profile.removal_policy,
            auto_delete_objects=not profile.is_production,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90 if profile.is_production else 7))],
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "This bucket receives the access logs of the distribution and the site bucket; logging "
            "its own access into itself would loop.",
        )
        return bucket

    def _site_bucket(self, profile: Profile) -> tuple[kms.Key, s3.Bucket]:
        """The key, and the bucket encrypted with it by its alias.

        The cycle of aws/aws-cdk#21771: the key's policy names the distribution, the distribution
        names the bucket, and the bucket names the key. CDK breaks it with a wildcard (any
        distribution of the account may decrypt). Here the bucket names the key by its alias ARN
        instead (S3 accepts an alias for default encryption and resolves it when it writes an
        object), so the key's policy can name this distribution alone; the site's files are
        written only after the alias exists."""
        key = encryption_key(self, "Key", profile=profile, description="Encrypts the site's files")
        alias_name = f"alias/refarch/{Aws.STACK_NAME}/{self.node.addr[:12]}"
        alias = key.add_alias(alias_name)
        bucket = s3.Bucket(
            self,
            "Site",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=profile.is_production,
            removal_policy=profile.removal_policy,
            auto_delete_objects=not profile.is_production,
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix="site-bucket/",
        )
        if not profile.is_production:
            _log_auto_delete_provider(Stack.of(self), profile)
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, CfnResource)
        cfn_bucket.add_property_override(
            "BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault.KMSMasterKeyID",
            _alias_arn(alias_name),
        )
        self._alias = alias
        # The bucket by name alone (no key): see _distribution and _deploy.
        self._by_name = s3.Bucket.from_bucket_attributes(
            self, "SiteOrigin", bucket_name=bucket.bucket_name, region=Aws.REGION
        )
        return key, bucket

    def _distribution(
        self,
        *,
        api: apigateway.RestApi | None,
        domain_name: str | None,
        certificate: acm.ICertificate | None,
        web_acl_arn: str | None,
        price_class: cloudfront.PriceClass,
    ) -> cloudfront.Distribution:
        # The origin reads the bucket by name only, so CDK adds neither its wildcard key statement
        # nor its bucket statement: _admit_only_this_distribution writes both, naming this one.
        site = self._by_name
        origin = origins.S3BucketOrigin.with_origin_access_control(
            site,
            origin_access_control=cloudfront.S3OriginAccessControl(
                self, "AccessControl", signing=cloudfront.Signing.SIGV4_ALWAYS
            ),
        )
        functions = [
            cloudfront.FunctionAssociation(
                function=self.spa_routes, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
            )
        ]
        behaviours: dict[str, cloudfront.BehaviorOptions] = {
            f"/{ASSETS}/*": cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=policies.asset_cache_policy(self, "AssetCache"),
                response_headers_policy=self.headers_policy,
                compress=True,
            )
        }
        if api is not None:
            behaviours[f"/{stage_name(api)}/*"] = cloudfront.BehaviorOptions(
                origin=origins.HttpOrigin(
                    f"{api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}",
                    protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                    origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                response_headers_policy=self.headers_policy,
            )
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            default_root_object=INDEX,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=policies.document_cache_policy(self, "DocumentCache"),
                response_headers_policy=self.headers_policy,
                function_associations=functions,
                compress=True,
            ),
            additional_behaviors=behaviours,
            domain_names=[domain_name] if domain_name else None,
            certificate=certificate,
            # CloudFront applies a minimum only to a custom certificate (the default one is fixed).
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=price_class,
            web_acl_id=web_acl_arn,
            enable_logging=True,
            log_bucket=self.logs_bucket,
            log_file_prefix="distribution/",
        )
        Annotations.of(distribution).acknowledge_warning(
            "@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac",
            "The bucket policy is written by StaticSite, naming this distribution.",
        )
        return distribution

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Deploy `config` as `/config.json` with index.html (revalidated like it, invalidated
        with it). CloudFormation tokens in it (an API URL, a client id) resolve at deploy: the
        page reads what the deployed stacks hold, never a value written into its code."""
        if self._config_written:
            raise PropError("config", f"{CONFIG} is already written for this site")
        self.documents_deployment.add_source(s3deploy.Source.json_data(CONFIG, dict(config)))
        self._config_written = True

    def _admit_only_this_distribution(self) -> None:
        """The bucket and the key admit CloudFront for this distribution only: the service
        principal with `aws:SourceArn` set to its ARN (Amazon CloudFront Developer Guide,
        "Restricting access to an Amazon S3 origin"); reads only, no listing."""
        source = {"StringEquals": {"AWS:SourceArn": self.distribution.distribution_arn}}
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudFrontReadOfThisDistribution",
                principals=[iam.ServicePrincipal(CLOUDFRONT)],
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions=source,
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudFrontDecryptForThisDistribution",
                principals=[iam.ServicePrincipal(CLOUDFRONT)],
                actions=["kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions=source,
            )
        )

    def _deploy(self, site_dir: str, profile: Profile) -> None:
        built = build_site(site_dir)
        logs = log_group(self, "DeploymentLogs", profile=profile)
        # The bucket by name: CDK's grant for a bucket with a key adds kms:Encrypt and
        # kms:ReEncrypt*, which writing never uses; the key grant below is what S3 needs for a
        # PutObject under SSE-KMS (kms:GenerateDataKey, and kms:Decrypt for multipart uploads).
        common: dict[str, Any] = {
            "destination_bucket": self._by_name,
            "retain_on_delete": profile.is_production,
            "log_group": logs,
            "memory_limit": 256,
        }
        self.assets_deployment = s3deploy.BucketDeployment(
            self,
            "Assets",
            sources=[s3deploy.Source.asset(str(built / ASSETS))],
            destination_key_prefix=f"{ASSETS}/",
            # Old hashed files stay: a browser holding the previous index.html still finds its assets.
            prune=False,
            cache_control=[s3deploy.CacheControl.from_string(policies.IMMUTABLE)],
            **common,
        )
        documents = [s3deploy.Source.asset(str(built), exclude=[f"{ASSETS}/*", ASSETS])]
        self.documents_deployment = s3deploy.BucketDeployment(
            self,
            "Documents",
            sources=documents,
            prune=False,
            cache_control=[s3deploy.CacheControl.from_string(policies.REVALIDATE)],
            distribution=self.distribution,
            # Only the files whose names do not change: hashed assets are new URLs.
            distribution_paths=["/", f"/{INDEX}", f"/{CONFIG}"],
            **common,
        )
        self.documents_deployment.node.add_dependency(self.assets_deployment)
        for deployment in (self.assets_deployment, self.documents_deployment):
            deployment.node.add_dependency(self._alias)
            deployment.node.add_dependency(self.bucket)
            if deployment.handler_role is not None:
                self.key.grant(deployment.handler_role, "kms:GenerateDataKey", "kms:Decrypt")
        for handler in Stack.of(self).node.children:
            if handler.node.id.startswith(DEPLOYMENT_HANDLER):
                for finding, reason in DEPLOYMENT_REASONS.items():
                    acknowledge(handler, finding, reason)


def stage_name(api: apigateway.RestApi) -> str:
    """The stage's literal name (the stage's own attribute is a reference into its stack)."""
    stage = api.deployment_stage.node.default_child
    name = getattr(stage, "stage_name", None)
    if not isinstance(name, str) or Token.is_unresolved(name):
        raise PropError("api", "the API's stage needs a literal name, the path CloudFront routes to it")
    return name


def _alias_arn(alias_name: str) -> str:
    """The fully qualified alias ARN: a bare alias would be resolved in the writer's account."""
    return Fn.join("", ["arn:", Aws.PARTITION, ":kms:", Aws.REGION, ":", Aws.ACCOUNT_ID, ":", alias_name])


def _check_props(
    *,
    site_dir: str,
    api: apigateway.RestApi | None,
    domain_name: str | None,
    certificate: acm.ICertificate | None,
    web_acl_arn: str | None,
    connect_origins: Sequence[str],
    production: bool,
) -> None:
    expect("site_dir", site_dir, str)
    expect("api", api, apigateway.RestApi, optional=True)
    expect("domain_name", domain_name, str, optional=True)
    expect("web_acl_arn", web_acl_arn, str, optional=True)
    if isinstance(connect_origins, str):
        raise PropError("connect_origins", "give a list of origins, not one string")
    for origin in connect_origins:
        if not Token.is_unresolved(origin) and not re.fullmatch(
            r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin
        ):
            raise PropError("connect_origins", f"{origin!r} is not an https origin (https://host[:port])")
    if (domain_name is None) != (certificate is None):
        raise PropError(
            "domain_name" if domain_name is None else "certificate",
            "domain_name and certificate go together: CloudFront serves a custom domain only "
            "with its certificate",
        )
    if domain_name is not None and not Token.is_unresolved(domain_name) and not DOMAIN.fullmatch(domain_name):
        raise PropError("domain_name", f"{domain_name!r} is not a lower-case DNS name")
    if certificate is not None and not Token.is_unresolved(certificate.certificate_arn):
        match = CERTIFICATE_ARN.fullmatch(certificate.certificate_arn)
        if match is None or match.group("region") != "us-east-1":
            raise PropError(
                "certificate",
                f"{certificate.certificate_arn!r}: CloudFront uses ACM certificates from us-east-1 only",
            )
    if (
        web_acl_arn is not None
        and not Token.is_unresolved(web_acl_arn)
        and not GLOBAL_WEB_ACL.fullmatch(web_acl_arn)
    ):
        raise PropError(
            "web_acl_arn",
            f"{web_acl_arn!r} is not a CLOUDFRONT-scope web ACL "
            "(arn:aws:wafv2:us-east-1:<account>:global/webacl/...)",
        )
    if production and web_acl_arn is None:
        raise PropError(
            "web_acl_arn", "the production profile puts a WAF web ACL in front of the site: give its ARN"
        )
