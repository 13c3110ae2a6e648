"""Data outlives a stack deletion in production, and so do the keys and secrets that open it."""

from __future__ import annotations

from collections.abc import Iterator

from .core import Settings, Violation, rule
from .model import Model, Resource

STATEFUL = (
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ElastiCache::CacheCluster",
    "AWS::ElastiCache::ServerlessCache",
    "AWS::MemoryDB::Cluster",
    "AWS::Logs::LogGroup",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::EFS::FileSystem",
    "AWS::Kinesis::Stream",
    "AWS::OpenSearchService::Domain",
    "AWS::Backup::BackupVault",
)
WHEN = {"DeletionPolicy": "the stack is deleted", "UpdateReplacePolicy": "an update replaces it"}
SECRET, KEY = "AWS::SecretsManager::Secret", "AWS::KMS::Key"


def _copy(resource: Resource) -> bool:
    """A read replica or a cluster member: its data is kept by its source or cluster."""
    props = resource.properties
    return resource.type == "AWS::RDS::DBInstance" and bool(
        props.get("SourceDBInstanceIdentifier") or props.get("DBClusterIdentifier")
    )


@rule(
    "StatefulRetained",
    doc="Production: every stateful resource (tables, queues, buckets, databases, caches, log groups, "
    "keys, secrets, file systems, streams) is retained or snapshotted on delete and on replacement.",
    source="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/"
    "aws-attribute-deletionpolicy.html; "
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatereplacepolicy.html",
    production_only=True,
)
def stateful_retained(model: Model, settings: Settings) -> Iterator[Violation]:
    if not settings.production:
        return
    for resource in model.of_type(*STATEFUL):
        if _copy(resource):
            continue
        for attribute, policy in (
            ("DeletionPolicy", resource.deletion_policy),
            ("UpdateReplacePolicy", resource.update_replace_policy),
        ):
            if policy not in ("Retain", "Snapshot", "RetainExceptOnCreate"):
                yield Violation(
                    "StatefulRetained",
                    resource,
                    f"is {resource.type} with {attribute} {policy} in production: its data is lost "
                    f"when {WHEN[attribute]}.",
                    "Apply the profile's removal policy: RemovalPolicy.RETAIN "
                    "(or SNAPSHOT for databases and caches).",
                    attribute,
                )
                break


def _protectors(model: Model, data: Resource, kind: str) -> set[Resource]:
    found = set(model.targets_of_type(data.properties, data.stack, kind))
    if kind == SECRET:
        for attachment in model.of_type("AWS::SecretsManager::SecretTargetAttachment"):
            if data in model.targets_of_type(
                attachment.properties.get("TargetId"), attachment.stack, data.type
            ):
                found.update(
                    model.targets_of_type(attachment.properties.get("SecretId"), attachment.stack, SECRET)
                )
    return found


@rule(
    "ProtectorOutlivesData",
    doc="A key or secret lives at least as long as the data it protects: data that is retained or "
    "snapshotted keeps its KMS key and its credentials' secret, or it cannot be read again.",
    source="https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html (data under a deleted "
    "key is unrecoverable); https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RestoreFromSnapshot.html",
)
def protector_outlives_data(model: Model, settings: Settings) -> Iterator[Violation]:
    reported: set[tuple[Resource, Resource]] = set()
    for data in model.of_type(*STATEFUL):
        if not data.keeps_data or data.type in (KEY,):
            continue
        for kind, what in ((KEY, "key"), (SECRET, "secret")):
            if data.type == kind:
                continue
            for protector in _protectors(model, data, kind):
                if protector.keeps_data or (protector, data) in reported:
                    continue
                reported.add((protector, data))
                yield Violation(
                    "ProtectorOutlivesData",
                    protector,
                    f"is deleted with the stack ({protector.deletion_policy}), "
                    f"but {data.path} it protects is kept ({data.deletion_policy}): "
                    f"what remains cannot be opened without this {what}.",
                    f"Give this {what} the same removal policy as the data (RemovalPolicy.RETAIN).",
                    "DeletionPolicy",
                )
