"""The tag by which AWS Backup selects what to protect.

Every pattern marks its stateful resources (tables, databases, buckets that hold data, file
systems) with `mark_for_backup`; the `Backup` stack's plan selects resources by this tag, so a
user's own resources join the plan by carrying the same tag.
"""

from __future__ import annotations

from aws_cdk import Tags, Token
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

BACKUP_TAG_KEY = "refarch:backup"
BACKUP_TAG_VALUE = "daily"


def mark_for_backup(resource: IConstruct) -> None:
    """Tag `resource` (and what it contains) so the Backup stack's plan selects it.

    A bucket must be versioned: AWS Backup refuses to back up an unversioned one ("Amazon S3
    backups", prerequisites), so the tag would only make a job that fails every day.
    """
    if isinstance(resource, s3.Bucket) and not _versioned(resource):
        raise ValueError(
            f"mark_for_backup: bucket {resource.node.path} is not versioned, and AWS Backup backs "
            "up only versioned buckets: version it, or leave it out of the backup"
        )
    Tags.of(resource).add(BACKUP_TAG_KEY, BACKUP_TAG_VALUE)


def _versioned(bucket: s3.Bucket) -> bool:
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    config = cfn.versioning_configuration
    if config is None or Token.is_unresolved(config):
        return False
    status = config.status if isinstance(config, s3.CfnBucket.VersioningConfigurationProperty) else None
    return status == "Enabled"
