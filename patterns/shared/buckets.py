"""S3 buckets with the kit's defaults: private, TLS only, encrypted, access-logged, and per profile
either emptied and removed by `cdk destroy` (sandbox) or kept and versioned (production)."""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .defaults import Profile, acknowledge, log_group

ACCESS_LOGS_REASON = (
    "This bucket receives the server access logs of the other buckets; logging its own access "
    "into itself would loop, and S3 log delivery is its only writer."
)
AUTO_DELETE_PROVIDER = "Custom::S3AutoDeleteObjectsCustomResourceProvider"


def access_logs_bucket(scope: Construct, construct_id: str, *, profile: Profile) -> s3.Bucket:
    """Where the other buckets' server access logs go (log delivery needs SSE-S3)."""
    bucket = _bucket(scope, construct_id, profile=profile, access_logs=None)
    bucket.add_lifecycle_rule(expiration=Duration.days(90 if profile.is_production else 7))
    acknowledge(bucket, "AwsSolutions-S1", ACCESS_LOGS_REASON)
    return bucket


def secure_bucket(
    scope: Construct, construct_id: str, *, profile: Profile, access_logs: s3.IBucket
) -> s3.Bucket:
    """A private, encrypted, TLS-only bucket whose access is logged into `access_logs`."""
    return _bucket(scope, construct_id, profile=profile, access_logs=access_logs)


def _bucket(
    scope: Construct, construct_id: str, *, profile: Profile, access_logs: s3.IBucket | None
) -> s3.Bucket:
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        versioned=profile.is_production,
        removal_policy=profile.removal_policy,
        auto_delete_objects=not profile.is_production,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{construct_id}/" if access_logs is not None else None,
    )
    if not profile.is_production:
        _log_auto_delete_provider(Stack.of(scope), profile)
    return bucket


def _log_auto_delete_provider(stack: Stack, profile: Profile) -> None:
    """Send the logs of CDK's object-emptying function into a group the stack owns.

    Otherwise Lambda creates /aws/lambda/<name> itself, and `cdk destroy` leaves it behind. The
    function depends on the group, so the group is deleted after the function's last run.
    """
    if stack.node.try_find_child("AutoDeleteObjectsLogs") is not None:
        return
    provider = stack.node.try_find_child(AUTO_DELETE_PROVIDER)
    if provider is None:
        return
    handler = provider.node.find_child("Handler")
    if not isinstance(handler, CfnResource):
        raise TypeError(f"{AUTO_DELETE_PROVIDER}/Handler is no longer a CfnResource; revisit this")
    group = log_group(stack, "AutoDeleteObjectsLogs", profile=profile)
    handler.add_property_override("LoggingConfig.LogGroup", group.log_group_name)
    handler.node.add_dependency(group)
